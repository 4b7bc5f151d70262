import type { Client } from 'pg';
import type { CopyRolesInput } from '../domain/activity-inputs';
import { connectionLabel, withDatabase } from '../domain/connection';
import { ErrorCode, PgferryError } from '../domain/errors';
import type { RolesReport } from '../domain/roles';
import type { ActivityDeps } from './deps';
import { withClient } from './pg/connect';
import { grantSelfRoles } from './roles-self-grant';
import {
  alterRoleSql,
  attributeClauses,
  createRoleSql,
  CURRENT_USER_POWERS,
  DATABASE_PRIVILEGES,
  databaseOwnerSql,
  databasePrivilegeSql,
  DEFAULT_ATTRIBUTES,
  FLAGS,
  grantMembershipSql,
  MEMBERSHIPS,
  PASSWORD_HASHES,
  passwordSql,
  ROLE_SETTINGS,
  ROLES_LOCK,
  setSettingSql,
  SOURCE_ROLES_TO_COPY,
  TARGET_ROLES,
  type DatabasePrivilege,
  type PrivilegeChange,
  type RoleAttributes,
  type SettingScope,
} from './pg/roles-sql';
import { SqlState } from './pg/sqlstate';
import { MAINTENANCE_DB } from './provision/local';

/** One membership: `member` in `role`, with ADMIN OPTION or not. */
interface Membership {
  readonly role: string;
  readonly member: string;
  readonly admin: boolean;
}

/** Settings of one scope, as `name=value` items. */
interface Settings extends SettingScope {
  readonly config: string[];
}

/** A database's owner and privileges (its owner's own left out). */
interface DatabaseFacts {
  readonly owner: string;
  readonly bootstrap_owner: boolean;
  readonly acl: DatabasePrivilege[];
}

/** Everything read from the source, before anything on the target changes. */
interface SourceRoles {
  readonly roles: RoleAttributes[];
  readonly memberships: Membership[];
  readonly settings: Settings[];
  readonly passwords?: Map<string, string>;
  readonly database?: DatabaseFacts;
}

/** What the target user may grant. */
interface Powers {
  readonly name: string;
  readonly superuser: boolean;
  readonly createrole: boolean;
  readonly createdb: boolean;
  readonly replication: boolean;
  readonly bypassrls: boolean;
  readonly major: number;
}

// A refusal of the target server that is reported, not thrown: a right the user lacks, a setting
// the target does not know (an extension's), a membership that would make a loop, a bad value.
const REPORTED_SQLSTATES = new Set<string>([
  SqlState.InsufficientPrivilege,
  SqlState.UndefinedObject,
  SqlState.InvalidParameterValue,
  '0LP01', // invalid_grant_operation
  '42939', // reserved_name
]);

/**
 * Copies the source server's roles to the target server, or aligns those it has: attributes,
 * memberships (with ADMIN OPTION), role-level settings (for all databases, and with `database` for
 * the migrated one, with that database's owner, privileges and settings), and with `passwords` their
 * password hashes. Passwords are read from pg_authid, which only a superuser may read: without that
 * right nothing is changed and the error names rolePasswords. What the target user cannot grant
 * (SUPERUSER, REPLICATION, BYPASSRLS, a superuser's setting) is left out and listed in the report's
 * notGranted, never dropped silently. Safe to run again: what matches is left alone, so a second
 * run (a retry, the next member of a fleet) creates and changes nothing; runs on one target take
 * turns (an advisory lock).
 */
export async function copyRoles(deps: ActivityDeps, input: CopyRolesInput): Promise<RolesReport> {
  const admin = withDatabase(input.target, MAINTENANCE_DB);
  const source = await withClient(input.source, deps.env, 'source', (src) => readSource(src, input));
  return withClient(admin, deps.env, 'target', async (dst) => {
    await dst.query(ROLES_LOCK);
    const powers = (await dst.query<Powers>(CURRENT_USER_POWERS)).rows[0];
    if (powers === undefined) throw new Error('the target user is not in pg_roles');
    const report: RolesReport = {
      source: connectionLabel(withDatabase(input.source, '')).replace(/\/$/, ''),
      target: connectionLabel(withDatabase(input.target, '')).replace(/\/$/, ''),
      roles: source.roles.length,
      created: [],
      changed: [],
      memberships: [],
      settings: [],
      passwords: [],
      notGranted: [],
    };
    await alignRoles(dst, source.roles, powers, report);
    if (source.passwords) await setPasswords(dst, source.passwords, report);
    await grantMemberships(dst, source.memberships, report);
    // Before the database's owner is set: ALTER DATABASE … OWNER TO needs SET on the new owner too.
    await grantSelfRoles(
      dst,
      source.roles.map((r) => r.name),
      powers,
      report,
    );
    const database = input.database ? input.target.database : undefined;
    await alignSettings(dst, source.settings, database, report);
    if (source.database && database) await alignDatabase(dst, source.database, database, powers.name, report);
    deps.logger.info(
      {
        created: report.created.length,
        changed: report.changed.length,
        notGranted: report.notGranted.length,
      },
      'roles copied',
    );
    return report;
  });
}

/** Reads the source's roles, memberships, settings (and passwords, and the database's facts). */
async function readSource(src: Client, input: CopyRolesInput): Promise<SourceRoles> {
  const roles = (await src.query<RoleAttributes>(SOURCE_ROLES_TO_COPY)).rows;
  const memberships = (await src.query<Membership>(MEMBERSHIPS)).rows;
  const database = input.database ? input.source.database : null;
  const settings = (await src.query<Settings>(ROLE_SETTINGS, [database])).rows;
  const facts = database
    ? (await src.query<DatabaseFacts>(DATABASE_PRIVILEGES, [database])).rows[0]
    : undefined;
  const passwords = input.passwords ? await readPasswords(src, roles) : undefined;
  return {
    roles,
    memberships,
    settings,
    ...(passwords ? { passwords } : {}),
    ...(facts ? { database: facts } : {}),
  };
}

async function readPasswords(src: Client, roles: readonly RoleAttributes[]): Promise<Map<string, string>> {
  try {
    const { rows } = await src.query<{ name: string; hash: string }>(PASSWORD_HASHES, [
      roles.map((r) => r.name),
    ]);
    return new Map(rows.map((r) => [r.name, r.hash]));
  } catch (err) {
    if ((err as { code?: string }).code !== SqlState.InsufficientPrivilege) throw err;
    throw new PgferryError(
      ErrorCode.PermissionDenied,
      "rolePasswords: the source user may not read the roles' passwords (pg_authid is readable by superusers only)",
      {
        field: 'rolePasswords',
        fix: 'connect to the source as a superuser to copy passwords, or leave out --role-passwords and set the passwords on the target',
        cause: err,
      },
    );
  }
}

/** Runs a statement; a refusal the report can carry is reported and returns false. */
async function attempt(
  dst: Client,
  sql: string,
  report: RolesReport,
  refused: { role: string; what: string },
): Promise<boolean> {
  try {
    await dst.query(sql);
    return true;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === undefined || !REPORTED_SQLSTATES.has(code)) throw err;
    report.notGranted.push({ ...refused, why: (err as Error).message });
    return false;
  }
}

/** Why the target user may not give or take an attribute, or undefined when it may. */
export function refusedAttribute(key: (typeof FLAGS)[number][0], p: Powers): string | undefined {
  if (p.superuser) return undefined;
  const word = FLAGS.find(([k]) => k === key)?.[1] ?? key;
  if (key === 'superuser') return `${p.name} is not a superuser: only a superuser gives or takes SUPERUSER`;
  if ((key === 'replication' || key === 'bypassrls') && p.major < 16)
    return `${p.name} is not a superuser: before PostgreSQL 16 only a superuser gives or takes ${word}`;
  if ((key === 'replication' || key === 'bypassrls' || key === 'createdb') && p.major >= 16 && !p[key])
    return `${p.name} does not have ${word} itself: since PostgreSQL 16 a CREATEROLE user gives only the attributes it has`;
  return undefined;
}

/** Creates the roles the target lacks and aligns the attributes of those it has. */
async function alignRoles(
  dst: Client,
  roles: readonly RoleAttributes[],
  powers: Powers,
  report: RolesReport,
): Promise<void> {
  const existing = new Map(
    (
      await dst.query<RoleAttributes & { bootstrap: boolean }>(TARGET_ROLES, [roles.map((r) => r.name)])
    ).rows.map((r) => [r.name, r]),
  );
  for (const role of roles) {
    const found = existing.get(role.name);
    if (found && (found.bootstrap || found.name === powers.name)) {
      if (attributeClauses(found, role).length > 0)
        report.notGranted.push({
          role: role.name,
          what: attributeClauses(found, role).join(' '),
          why: `the target's ${found.bootstrap ? 'bootstrap superuser' : 'own user'} is left as it is`,
        });
      continue;
    }
    const clauses = grantable(attributeClauses(found ?? DEFAULT_ATTRIBUTES, role), role.name, powers, report);
    const what = found ? `ALTER ROLE ${clauses.join(' ')}` : 'CREATE ROLE';
    if (found && clauses.length === 0) continue;
    const sql = found ? alterRoleSql(role.name, clauses) : createRoleSql(role.name, clauses);
    if (!(await attempt(dst, sql, report, { role: role.name, what }))) continue;
    if (found) report.changed.push(`${role.name}: ${clauses.join(' ')}`);
    else report.created.push(role.name);
  }
}

/** The clauses the target user may run; the others are reported as not granted. */
function grantable(clauses: string[], role: string, powers: Powers, report: RolesReport): string[] {
  return clauses.filter((clause) => {
    const flag = FLAGS.find(([, on, off]) => clause === on || clause === off);
    const why = flag ? refusedAttribute(flag[0], powers) : undefined;
    if (why) report.notGranted.push({ role, what: clause, why });
    return why === undefined;
  });
}

/** Sets the passwords that differ (every one when the target's hashes cannot be read). */
async function setPasswords(dst: Client, hashes: Map<string, string>, report: RolesReport): Promise<void> {
  const names = [...hashes.keys()].filter(
    (name) => !report.notGranted.some((n) => n.role === name && n.what === 'CREATE ROLE'),
  );
  let current = new Map<string, string>();
  try {
    const { rows } = await dst.query<{ name: string; hash: string }>(PASSWORD_HASHES, [names]);
    current = new Map(rows.map((r) => [r.name, r.hash]));
  } catch (err) {
    if ((err as { code?: string }).code !== SqlState.InsufficientPrivilege) throw err;
  }
  for (const name of names) {
    const hash = hashes.get(name);
    if (hash === undefined || current.get(name) === hash) continue;
    if (await attempt(dst, passwordSql(name, hash), report, { role: name, what: 'PASSWORD' }))
      report.passwords.push(name);
  }
}

/** Grants the memberships the target lacks, and ADMIN OPTION where the source has it and the target not. */
async function grantMemberships(
  dst: Client,
  wanted: readonly Membership[],
  report: RolesReport,
): Promise<void> {
  const have = new Map(
    (await dst.query<Membership>(MEMBERSHIPS)).rows.map((m) => [`${m.role}\u0000${m.member}`, m]),
  );
  for (const m of wanted) {
    const found = have.get(`${m.role}\u0000${m.member}`);
    if (found && (found.admin || !m.admin)) continue;
    const label = `${m.member} in ${m.role}${m.admin ? ' (admin)' : ''}`;
    if (
      await attempt(dst, grantMembershipSql(m.role, m.member, m.admin), report, {
        role: m.member,
        what: `membership in ${m.role}`,
      })
    )
      report.memberships.push(label);
  }
}

/**
 * A scope's settings without pgferry's write fence: a frozen source (a migration's cutover, a
 * retry after the freeze) holds default_transaction_read_only = on beside the original it saved
 * under pgferry.saved_…; copied, it would make the target read-only.
 */
export function unfenced(config: readonly string[]): string[] {
  const fenced = config.some((item) => item.startsWith('pgferry.saved_default_transaction_read_only='));
  return config.filter(
    (item) => !item.startsWith('pgferry.') && !(fenced && item.startsWith('default_transaction_read_only=')),
  );
}

/** Sets the settings whose value differs on the target (settings the target has beside them stay). */
async function alignSettings(
  dst: Client,
  wanted: readonly Settings[],
  database: string | undefined,
  report: RolesReport,
): Promise<void> {
  const scopeKey = (s: SettingScope) => `${s.role}\u0000${s.database === '' ? '' : 'db'}`;
  const have = new Map(
    (await dst.query<Settings>(ROLE_SETTINGS, [database ?? null])).rows.map((s) => [scopeKey(s), s.config]),
  );
  for (const source of wanted) {
    // The source database's settings go to the target database, whatever its name.
    const scope = { role: source.role, database: source.database === '' ? '' : (database ?? '') };
    const current = new Set(have.get(scopeKey(source)) ?? []);
    for (const item of unfenced(source.config)) {
      if (current.has(item)) continue;
      const at = item.indexOf('=');
      const [name, value] = [item.slice(0, at), item.slice(at + 1)];
      const where =
        scope.role === ''
          ? `database ${scope.database}`
          : scope.database
            ? `${scope.role} in ${scope.database}`
            : scope.role;
      if (
        await attempt(dst, setSettingSql(scope, name, value), report, {
          role: scope.role || `database ${scope.database}`,
          what: `setting ${name}`,
        })
      )
        report.settings.push(`${where}: ${name}`);
    }
  }
}

/**
 * The target database's owner and privileges made the source's: privileges the source has and the
 * target not are granted, those only the target has revoked (the target user's own kept), and a
 * grant option given or taken where only it differs.
 */
async function alignDatabase(
  dst: Client,
  source: DatabaseFacts,
  database: string,
  keep: string,
  report: RolesReport,
): Promise<void> {
  const read = async () => (await dst.query<DatabaseFacts>(DATABASE_PRIVILEGES, [database])).rows[0];
  const before = await read();
  if (before === undefined) return;
  // The source's own bootstrap superuser is not copied: the database stays with the target's user.
  if (!source.bootstrap_owner && before.owner !== source.owner) {
    const sql = databaseOwnerSql(database, source.owner);
    if (await attempt(dst, sql, report, { role: source.owner, what: `owner of database ${database}` }))
      report.changed.push(`database ${database}: OWNER TO ${source.owner}`);
  }
  const target = (await read()) ?? before;
  const key = (p: DatabasePrivilege) => `${p.grantee}\u0000${p.privilege}`;
  const wanted = new Map(source.acl.map((p) => [key(p), p]));
  const have = new Map(target.acl.map((p) => [key(p), p]));
  for (const p of source.acl) {
    const found = have.get(key(p));
    if (found === undefined || (p.grantable && !found.grantable))
      await privilege(dst, database, p, 'grant', report);
    else if (found.grantable && !p.grantable) await privilege(dst, database, p, 'revoke-option', report);
  }
  for (const p of target.acl)
    if (!wanted.has(key(p)) && p.grantee !== keep) await privilege(dst, database, p, 'revoke', report);
}

async function privilege(
  dst: Client,
  database: string,
  p: DatabasePrivilege,
  how: PrivilegeChange,
  report: RolesReport,
): Promise<void> {
  const sql = databasePrivilegeSql(database, p, how);
  const what = sql.replace(/ (TO|FROM) .*$/, '');
  if (await attempt(dst, sql, report, { role: p.grantee, what }))
    report.changed.push(`database ${database}: ${sql}`);
}
