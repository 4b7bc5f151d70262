import { query } from './pg';

/** The roles pgferry copies: all but the predefined ones and the bootstrap superuser. */
const COPIED = `rolname !~ '^pg_' AND oid <> 10`;

/**
 * What a server says of its roles, memberships and role settings, and of `databases`' owners and
 * ACLs, by name (oids differ between servers): two servers whose roles pgferry copied compare equal.
 */
export async function serverRoles(
  url: string,
  databases: string | readonly string[],
): Promise<Record<string, unknown>> {
  return {
    roles: await query(
      url,
      `SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication,
              rolbypassrls, rolconnlimit, rolvaliduntil
         FROM pg_roles WHERE ${COPIED} ORDER BY rolname`,
    ),
    members: await query(
      url,
      `SELECT r.rolname AS role, m.rolname AS member, g.rolname AS grantor, a.admin_option
         FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
         JOIN pg_roles g ON g.oid = a.grantor
        WHERE m.oid <> 10 ORDER BY 1, 2`,
    ),
    settings: await query(
      url,
      `SELECT coalesce(r.rolname, '') AS role, coalesce(d.datname, '') AS database, s.setconfig
         FROM pg_db_role_setting s LEFT JOIN pg_roles r ON r.oid = s.setrole
         LEFT JOIN pg_database d ON d.oid = s.setdatabase ORDER BY 1, 2`,
    ),
    database: await query(
      url,
      `SELECT d.datname, pg_get_userbyid(d.datdba) AS owner,
              (SELECT array_agg(e.item ORDER BY e.item)
                 FROM (SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END
                              || ':' || a.privilege_type || ':' || a.is_grantable AS item
                         FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a) e) AS acl
         FROM pg_database d WHERE d.datname = ANY($1::text[]) ORDER BY d.datname`,
      [typeof databases === 'string' ? [databases] : [...databases]],
    ),
  };
}

/** An ACL as text, its items sorted: a restore may write the same grants in another order. */
const sorted = (acl: string) => `(SELECT array_agg(i::text ORDER BY i::text) FROM unnest(${acl}) i)`;

/**
 * What a database says of the owners and ACLs of its objects in `schemas` (schemas, relations,
 * columns, functions, large objects) and of its default privileges, by name.
 */
export async function databasePrivileges(
  url: string,
  schemas: readonly string[],
): Promise<Record<string, unknown>> {
  const user = `n.nspname = ANY($1::text[])`;
  const within = [[...schemas]];
  return {
    schemas: await query(
      url,
      `SELECT n.nspname, pg_get_userbyid(n.nspowner) AS owner, ${sorted('n.nspacl')} AS nspacl FROM pg_namespace n WHERE ${user} ORDER BY 1`,
      within,
    ),
    relations: await query(
      url,
      `SELECT n.nspname, c.relname, c.relkind, pg_get_userbyid(c.relowner) AS owner, ${sorted('c.relacl')} AS relacl
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ${user} ORDER BY 1, 2`,
      within,
    ),
    columns: await query(
      url,
      `SELECT c.relname, a.attname, ${sorted('a.attacl')} AS attacl
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE ${user} AND a.attacl IS NOT NULL ORDER BY 1, 2`,
      within,
    ),
    functions: await query(
      url,
      `SELECT p.proname, pg_get_userbyid(p.proowner) AS owner, ${sorted('p.proacl')} AS proacl
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE ${user} ORDER BY 1`,
      within,
    ),
    // Large objects have no schema: every one, in oid order (pgferry keeps their oids).
    largeObjects: await query(
      url,
      `SELECT l.oid::bigint::text AS oid, pg_get_userbyid(l.lomowner) AS owner, ${sorted('l.lomacl')} AS lomacl
         FROM pg_largeobject_metadata l ORDER BY l.oid`,
    ),
    defaults: await query(
      url,
      `SELECT pg_get_userbyid(d.defaclrole) AS role, coalesce(n.nspname, '') AS schema, d.defaclobjtype,
              ${sorted('d.defaclacl')} AS defaclacl
         FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace ORDER BY 1, 2, 3`,
    ),
  };
}
