import { query } from './pg';

/**
 * What pgferry could create or change on a server, read from its catalogs: databases, roles and
 * their memberships, replication slots, subscriptions, per-database and per-role settings, the
 * server's settings (ALTER SYSTEM included, applied or not), and in every database that takes
 * connections its publications, schemas, extensions and how many relations each schema holds.
 * Positions that move by themselves (LSNs, xmin, statistics) are left out, so two reads of a
 * server nobody changed are equal.
 */
export interface ServerCatalog {
  readonly databases: unknown[];
  readonly roles: unknown[];
  readonly memberships: unknown[];
  readonly slots: unknown[];
  readonly subscriptions: unknown[];
  readonly dbRoleSettings: unknown[];
  readonly settings: unknown[];
  readonly fileSettings: unknown[];
  readonly perDatabase: Record<
    string,
    { publications: unknown[]; schemas: unknown[]; extensions: unknown[] }
  >;
}

const SERVER_QUERIES = {
  databases: `SELECT datname, pg_get_userbyid(datdba) AS owner, datallowconn, datistemplate, datconnlimit,
                     pg_encoding_to_char(encoding) AS encoding, shobj_description(oid, 'pg_database') AS comment
                FROM pg_database ORDER BY datname`,
  roles: `SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication,
                 rolbypassrls, rolconnlimit, rolvaliduntil::text AS rolvaliduntil, rolconfig
            FROM pg_roles ORDER BY rolname`,
  memberships: `SELECT pg_get_userbyid(roleid) AS role, pg_get_userbyid(member) AS member, admin_option
                  FROM pg_auth_members ORDER BY 1, 2`,
  slots: `SELECT slot_name, plugin, slot_type, database, temporary FROM pg_replication_slots ORDER BY slot_name`,
  subscriptions: `SELECT s.subname, d.datname, s.subenabled, s.subslotname, s.subpublications
                    FROM pg_subscription s LEFT JOIN pg_database d ON d.oid = s.subdbid ORDER BY 1, 2`,
  dbRoleSettings: `SELECT d.datname, r.rolname, s.setconfig
                     FROM pg_db_role_setting s
                     LEFT JOIN pg_database d ON d.oid = s.setdatabase
                     LEFT JOIN pg_roles r ON r.oid = s.setrole
                    ORDER BY 1 NULLS FIRST, 2 NULLS FIRST`,
  // A session's own settings (client, session) are the reader's, not the server's.
  settings: `SELECT name, setting, source FROM pg_settings
              WHERE source NOT IN ('client', 'session') ORDER BY name`,
  fileSettings: `SELECT sourcefile, name, setting, applied, error FROM pg_file_settings ORDER BY sourcefile, seqno`,
} as const;

const DATABASE_QUERIES = {
  publications: `SELECT p.pubname, p.puballtables, p.pubinsert, p.pubupdate, p.pubdelete,
                        (SELECT array_agg(pt.schemaname || '.' || pt.tablename ORDER BY 1)
                           FROM pg_publication_tables pt WHERE pt.pubname = p.pubname) AS tables
                   FROM pg_publication p ORDER BY p.pubname`,
  schemas: `SELECT n.nspname, pg_get_userbyid(n.nspowner) AS owner,
                   (SELECT count(*)::int FROM pg_class c WHERE c.relnamespace = n.oid) AS relations
              FROM pg_namespace n WHERE n.nspname NOT LIKE 'pg_temp_%' AND n.nspname NOT LIKE 'pg_toast_temp_%'
             ORDER BY n.nspname`,
  extensions: `SELECT extname, extversion FROM pg_extension ORDER BY extname`,
} as const;

/** Reads the catalog of the server that `adminUrl` (a superuser on its `postgres` database) reaches. */
export async function serverCatalog(adminUrl: (database?: string) => string): Promise<ServerCatalog> {
  const server = Object.fromEntries(
    await Promise.all(
      Object.entries(SERVER_QUERIES).map(async ([key, sql]) => [key, await query(adminUrl(), sql)] as const),
    ),
  ) as Record<keyof typeof SERVER_QUERIES, unknown[]>;
  const connectable = await query<{ datname: string }>(
    adminUrl(),
    'SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname',
  );
  const perDatabase: ServerCatalog['perDatabase'] = {};
  for (const { datname } of connectable) {
    const url = adminUrl(datname);
    const [publications, schemas, extensions] = await Promise.all([
      query(url, DATABASE_QUERIES.publications),
      query(url, DATABASE_QUERIES.schemas),
      query(url, DATABASE_QUERIES.extensions),
    ]);
    perDatabase[datname] = { publications, schemas, extensions };
  }
  return { ...server, perDatabase };
}
