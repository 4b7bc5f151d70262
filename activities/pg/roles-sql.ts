/**
 * Roles as a server's catalog holds them (pg_roles, pg_auth_members, pg_db_role_setting), and the
 * statements that create or align them on another server. Roles belong to the cluster, so any
 * database of a server answers. Names go in quoted (quoteIdent): CREATE ROLE, GRANT and ALTER take
 * no parameters.
 */
import { quoteIdent, quoteLiteral } from './connect';

/** A role's facts as both sides read them (VALID UNTIL in UTC, so both servers write it alike). */
const ROLE_COLUMNS = `r.rolname AS name, r.rolsuper AS superuser, r.rolinherit AS inherit,
         r.rolcreaterole AS createrole, r.rolcreatedb AS createdb, r.rolcanlogin AS login,
         r.rolreplication AS replication, r.rolbypassrls AS bypassrls,
         r.rolconnlimit AS connlimit,
         CASE WHEN r.rolvaliduntil IS NULL THEN NULL
              WHEN isfinite(r.rolvaliduntil) THEN (r.rolvaliduntil AT TIME ZONE 'UTC')::text || '+00'
              ELSE r.rolvaliduntil::text END AS valid_until`;

/**
 * The roles pgferry copies: every role but the predefined ones (pg_*, which every server has) and
 * the bootstrap superuser (oid 10: the server's own, whatever its name). VALID UNTIL is read in
 * UTC, so both servers write it alike whatever their TimeZone.
 */
export const SOURCE_ROLES_TO_COPY = `
  SELECT ${ROLE_COLUMNS}
    FROM pg_roles r
   WHERE r.rolname !~ '^pg_' AND r.oid <> 10
   ORDER BY r.rolname`;

/** The same facts of the named roles on the target ($1: names), and whether each is its bootstrap superuser. */
export const TARGET_ROLES = `
  SELECT ${ROLE_COLUMNS},
         r.oid = 10 AS bootstrap
    FROM pg_roles r
   WHERE r.rolname = ANY($1::text[])`;

/** What the connected user may grant: its own attributes and the server's major version. */
export const CURRENT_USER_POWERS = `
  SELECT current_user AS name, rolsuper AS superuser, rolcreaterole AS createrole,
         rolcreatedb AS createdb, rolreplication AS replication, rolbypassrls AS bypassrls,
         current_setting('server_version_num')::int / 10000 AS major
    FROM pg_roles WHERE rolname = current_user`;

/**
 * How the connected user stands to each named role ($1): whether it is a superuser role, whether
 * the user acts as it (`acts`: SET and INHERIT on PostgreSQL 16+, where the creator of a role holds
 * only ADMIN on it (createrole_self_grant is empty by default); membership before 16), and whether
 * it may grant itself that (`can`: ADMIN on 16+, CREATEROLE on a non-superuser role before). A user
 * who is not superuser needs SET to give an object to a role (ALTER … OWNER TO, and a subscription
 * applies as each table's owner) and INHERIT to use the owner's rights (GRANT on its objects,
 * CREATE in its database). Both copyRoles and preflight ask this.
 */
export function roleStandingSql(major: number): string {
  // Before 16, a membership is the role's privileges and SET ROLE at once; pg_has_role knows no SET.
  const acts =
    major >= 16
      ? `pg_has_role(current_user, r.oid, 'USAGE') AND pg_has_role(current_user, r.oid, 'SET')`
      : `pg_has_role(current_user, r.oid, 'USAGE')`;
  const can =
    major >= 16
      ? `pg_has_role(current_user, r.oid, 'USAGE WITH ADMIN OPTION')`
      : `NOT r.rolsuper AND (SELECT rolcreaterole FROM pg_roles WHERE rolname = current_user)`;
  return `
  SELECT r.rolname AS name, r.rolsuper AS superuser, ${acts} AS acts, ${can} AS can
    FROM pg_roles r
   WHERE r.rolname = ANY($1::text[]) AND r.rolname <> current_user AND r.rolname !~ '^pg_'
   ORDER BY 1`;
}

/** The grant that lets `member` act as a role: SET and INHERIT (16+), or plain membership before. */
export function actAsGrantSql(role: string, member: string, major: number): string {
  return `GRANT ${quoteIdent(role)} TO ${member === 'CURRENT_USER' ? member : quoteIdent(member)}${major >= 16 ? ' WITH INHERIT TRUE, SET TRUE' : ''}`;
}

/**
 * Memberships of copied roles (in copied or predefined roles), one row per pair: since
 * PostgreSQL 16 a pair may have several grants (one per grantor); with ADMIN OPTION when any has it.
 */
export const MEMBERSHIPS = `
  SELECT g.rolname AS role, m.rolname AS member, bool_or(a.admin_option) AS admin
    FROM pg_auth_members a
    JOIN pg_roles g ON g.oid = a.roleid
    JOIN pg_roles m ON m.oid = a.member
   WHERE m.rolname !~ '^pg_' AND m.oid <> 10 AND g.oid <> 10
   GROUP BY g.rolname, m.rolname
   ORDER BY 1, 2`;

/**
 * Role-level settings: of a role everywhere (database ''), of a role in database $1, and of
 * database $1 for everyone (role ''). $1 NULL: the settings for all databases only. The
 * bootstrap superuser's are the server's own.
 */
export const ROLE_SETTINGS = `
  SELECT coalesce(r.rolname, '') AS role, coalesce(d.datname, '') AS database, s.setconfig AS config
    FROM pg_db_role_setting s
    LEFT JOIN pg_roles r ON r.oid = s.setrole
    LEFT JOIN pg_database d ON d.oid = s.setdatabase
   WHERE (s.setdatabase = 0 OR d.datname = $1)
     AND (s.setrole = 0 OR (r.rolname !~ '^pg_' AND r.oid <> 10))`;

/**
 * A database's owner and its privileges, one row per grantee and privilege (the default ACL when
 * none was ever granted: PUBLIC may CONNECT and TEMPORARY). $1 the database.
 */
export const DATABASE_PRIVILEGES = `
  SELECT pg_get_userbyid(d.datdba) AS owner, d.datdba = 10 AS bootstrap_owner,
         coalesce(json_agg(json_build_object(
           'grantee', CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
           'privilege', a.privilege_type, 'grantable', a.is_grantable))
           FILTER (WHERE a.grantee IS NOT NULL AND a.grantee <> d.datdba), '[]') AS acl
    FROM pg_database d
    LEFT JOIN LATERAL aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a ON true
   WHERE d.datname = $1
   GROUP BY d.datdba`;

/** The source's password hashes (SCRAM or md5): pg_authid is readable by superusers only. */
export const PASSWORD_HASHES = `
  SELECT rolname AS name, rolpassword AS hash FROM pg_authid
   WHERE rolpassword IS NOT NULL AND rolname = ANY($1::text[])`;

/** Copies of roles on one target server take turns (a session lock; ends with the session). */
export const ROLES_LOCK = `SELECT pg_advisory_lock(hashtext('pgferry: copy roles'))`;

/** A role's attributes, as both catalogs give them. */
export interface RoleAttributes {
  readonly name: string;
  readonly superuser: boolean;
  readonly inherit: boolean;
  readonly createrole: boolean;
  readonly createdb: boolean;
  readonly login: boolean;
  readonly replication: boolean;
  readonly bypassrls: boolean;
  readonly connlimit: number;
  readonly valid_until: string | null;
}

/** The boolean attributes, with the keywords that set and clear them. */
export const FLAGS = [
  ['superuser', 'SUPERUSER', 'NOSUPERUSER'],
  ['inherit', 'INHERIT', 'NOINHERIT'],
  ['createrole', 'CREATEROLE', 'NOCREATEROLE'],
  ['createdb', 'CREATEDB', 'NOCREATEDB'],
  ['login', 'LOGIN', 'NOLOGIN'],
  ['replication', 'REPLICATION', 'NOREPLICATION'],
  ['bypassrls', 'BYPASSRLS', 'NOBYPASSRLS'],
] as const;

/** What CREATE ROLE gives a role that names no attribute. */
export const DEFAULT_ATTRIBUTES: Omit<RoleAttributes, 'name'> = {
  superuser: false,
  inherit: true,
  createrole: false,
  createdb: false,
  login: false,
  replication: false,
  bypassrls: false,
  connlimit: -1,
  valid_until: null,
};

/** The clauses that take a role from `from` to `to`: only those that differ, since ALTER ROLE checks every one it names. */
export function attributeClauses(from: Omit<RoleAttributes, 'name'>, to: RoleAttributes): string[] {
  const clauses: string[] = FLAGS.filter(([key]) => from[key] !== to[key]).map(([key, on, off]) =>
    to[key] ? on : off,
  );
  if (from.connlimit !== to.connlimit) clauses.push(`CONNECTION LIMIT ${Number(to.connlimit)}`);
  if (from.valid_until !== to.valid_until)
    clauses.push(`VALID UNTIL ${quoteLiteral(to.valid_until ?? 'infinity')}`);
  return clauses;
}

/** CREATE ROLE with the given clauses. */
export function createRoleSql(name: string, clauses: readonly string[]): string {
  return `CREATE ROLE ${quoteIdent(name)}${clauses.length > 0 ? ` WITH ${clauses.join(' ')}` : ''}`;
}

/** ALTER ROLE with the given clauses. */
export function alterRoleSql(name: string, clauses: readonly string[]): string {
  return `ALTER ROLE ${quoteIdent(name)} WITH ${clauses.join(' ')}`;
}

/** Sets a role's password to the source's hash (the server keeps a SCRAM or md5 hash as given). */
export function passwordSql(name: string, hash: string): string {
  return `ALTER ROLE ${quoteIdent(name)} PASSWORD ${quoteLiteral(hash)}`;
}

/** GRANT role TO member, with ADMIN OPTION when asked. */
export function grantMembershipSql(role: string, member: string, admin: boolean): string {
  return `GRANT ${quoteIdent(role)} TO ${quoteIdent(member)}${admin ? ' WITH ADMIN OPTION' : ''}`;
}

/**
 * Settings whose value is a list of quoted items (GUC_LIST_QUOTE): the catalog keeps
 * `search_path=app, "$user"`, which must go back as a list of literals, not one string.
 */
const LIST_SETTINGS = new Set([
  'search_path',
  'temp_tablespaces',
  'session_preload_libraries',
  'local_preload_libraries',
  'shared_preload_libraries',
]);

/** A setting's value as SQL: a literal, or a list of literals for the list settings. */
function settingValueSql(name: string, value: string): string {
  if (!LIST_SETTINGS.has(name.toLowerCase())) return quoteLiteral(value);
  const items = value.match(/("([^"]|"")*"|[^,])+/g) ?? [];
  return items
    .map((item) => item.trim())
    .map((item) => (/^".*"$/.test(item) ? item.slice(1, -1).replace(/""/g, '"') : item))
    .map(quoteLiteral)
    .join(', ');
}

/** Where a setting applies: a role (everywhere or in one database), or a database for everyone. */
export interface SettingScope {
  readonly role: string;
  readonly database: string;
}

/** ALTER ROLE … [IN DATABASE …] SET, or ALTER DATABASE … SET, for one `name=value` item. */
export function setSettingSql(scope: SettingScope, name: string, value: string): string {
  const setting = name.split('.').map(quoteIdent).join('.');
  const target =
    scope.role === ''
      ? `DATABASE ${quoteIdent(scope.database)}`
      : `ROLE ${quoteIdent(scope.role)}${scope.database ? ` IN DATABASE ${quoteIdent(scope.database)}` : ''}`;
  return `ALTER ${target} SET ${setting} = ${settingValueSql(name, value)}`;
}

/** ALTER DATABASE … OWNER TO. */
export function databaseOwnerSql(database: string, owner: string): string {
  return `ALTER DATABASE ${quoteIdent(database)} OWNER TO ${quoteIdent(owner)}`;
}

/** One privilege on a database, as aclexplode gives it. */
export interface DatabasePrivilege {
  readonly grantee: string;
  readonly privilege: string;
  readonly grantable: boolean;
}

/** How one privilege on a database changes: granted, revoked, or only its grant option revoked. */
export type PrivilegeChange = 'grant' | 'revoke' | 'revoke-option';

/** GRANT or REVOKE one privilege on a database (PUBLIC is a keyword, not a role). */
export function databasePrivilegeSql(database: string, p: DatabasePrivilege, how: PrivilegeChange): string {
  const grantee = p.grantee === 'PUBLIC' ? 'PUBLIC' : quoteIdent(p.grantee);
  // aclexplode names privileges in capitals (CONNECT, CREATE, TEMPORARY): a keyword, never quoted.
  if (!/^[A-Z]+$/.test(p.privilege)) throw new Error(`not a database privilege: ${p.privilege}`);
  const on = `${p.privilege} ON DATABASE ${quoteIdent(database)}`;
  if (how === 'grant') return `GRANT ${on} TO ${grantee}${p.grantable ? ' WITH GRANT OPTION' : ''}`;
  return `REVOKE ${how === 'revoke-option' ? 'GRANT OPTION FOR ' : ''}${on} FROM ${grantee} CASCADE`;
}
