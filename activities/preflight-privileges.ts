import type { Client } from 'pg';
import type { CheckOutcome } from '../domain/checks';
import type { MigrationMode } from '../domain/migration';
import { quoteIdent } from './pg/connect';
import {
  OWNED_WITHOUT_CREATE,
  SOURCE_OWNERS,
  SOURCE_USER_RIGHTS,
  targetUserRightsSql,
  UNREADABLE_RELATIONS,
} from './pg/preflight-sql';
import { actAsGrantSql, roleStandingSql } from './pg/roles-sql';

/** A role that owns objects of the source database, and whether it is a superuser there. */
export interface SourceOwner {
  readonly name: string;
  readonly superuser: boolean;
}

/** What the source user may do. */
export interface SourceRights {
  readonly databaseOwner: string;
  readonly ownsDatabase: boolean;
  readonly signalBackend: boolean;
  readonly readAllRole: boolean;
  readonly unreadable: string[];
  /** Objects whose owner has no CREATE on their schema, with the GRANT that would let a restore give them. */
  readonly ownedWithoutCreate: { name: string; fix: string }[];
}

/** What the target user may do, and how it stands to the source's owners that the target has. */
export interface TargetRights {
  readonly name: string;
  readonly major: number;
  readonly superuser: boolean;
  readonly createdb: boolean;
  readonly createrole: boolean;
  readonly replicaRole: boolean;
  readonly subscribe: boolean;
  /** CREATE in the target database; null when it does not exist. */
  readonly createInDatabase: boolean | null;
  readonly owners: { name: string; superuser: boolean; acts: boolean; can: boolean }[];
}

/** The source user's rights, and the source's owners and objects that ask something of the target. */
export async function readSourceRights(
  client: Client,
): Promise<{ owners: SourceOwner[]; rights: SourceRights }> {
  const owners = (await client.query<SourceOwner>(SOURCE_OWNERS)).rows;
  const f = (
    await client.query<{
      database_owner: string;
      owns_database: boolean;
      signal_backend: boolean;
      read_all_role: boolean;
    }>(SOURCE_USER_RIGHTS)
  ).rows[0];
  if (f === undefined) throw new Error('the source did not describe its database');
  return {
    owners,
    rights: {
      databaseOwner: f.database_owner,
      ownsDatabase: f.owns_database,
      signalBackend: f.signal_backend,
      readAllRole: f.read_all_role,
      unreadable: (await client.query<{ name: string }>(UNREADABLE_RELATIONS)).rows.map((r) => r.name),
      ownedWithoutCreate: (await client.query<{ name: string; fix: string }>(OWNED_WITHOUT_CREATE)).rows,
    },
  };
}

/** The target user's rights ($database: the target database), and how it stands to `owners`. */
export async function readTargetRights(
  client: Client,
  major: number,
  database: string,
  owners: readonly string[],
): Promise<TargetRights> {
  const { rows } = await client.query<{
    name: string;
    superuser: boolean;
    createdb: boolean;
    createrole: boolean;
    replica_role: boolean;
    subscribe: boolean;
    create_in_database: boolean | null;
  }>(targetUserRightsSql(major), [database]);
  const f = rows[0];
  if (f === undefined) throw new Error('the target user is not in pg_roles');
  const standing = f.superuser
    ? []
    : (
        await client.query<{ name: string; superuser: boolean; acts: boolean; can: boolean }>(
          roleStandingSql(major),
          [owners],
        )
      ).rows;
  return {
    name: f.name,
    major,
    superuser: f.superuser,
    createdb: f.createdb,
    createrole: f.createrole,
    replicaRole: f.replica_role,
    subscribe: f.subscribe,
    createInDatabase: f.create_in_database,
    owners: standing,
  };
}

/** The check's outcome from what is missing: each item one statement (or one thing only a superuser may do). */
function outcome(missing: string[], who: string, side: 'source' | 'target'): CheckOutcome {
  if (missing.length === 0) return { ok: true, message: `the ${side} user ${who} has every right it needs` };
  return {
    ok: false,
    message: `the ${side} user ${who} lacks ${missing.length} right(s) the migration needs on the ${side}: ${missing.join('; ')}`,
    items: missing,
    fix: `on the ${side}, as a superuser or the service admin: ${missing.join('; ')}; or connect as a superuser`,
  };
}

/**
 * What a source user who is not superuser lacks: SELECT on every table and sequence
 * (pg_read_all_data), and, offline with the source frozen (`freeze`), the database's owner's rights
 * (ALTER DATABASE … SET) and pg_signal_backend (ending the sessions begun before the freeze).
 * Online needs a superuser: the publication is FOR ALL TABLES and schema changes are captured by
 * event triggers, both a superuser's.
 */
export function sourcePrivilegesCheck(
  mode: MigrationMode,
  superuser: boolean,
  rights: SourceRights | undefined,
  user: string,
  freeze: boolean,
): CheckOutcome {
  const who = `"${user}"`;
  if (superuser || rights === undefined)
    return { ok: true, message: `the source user ${who} is a superuser` };
  const u = quoteIdent(user);
  const missing: string[] = [];
  if (mode === 'online')
    missing.push(
      `ALTER ROLE ${u} SUPERUSER (an online migration creates a publication FOR ALL TABLES and event triggers that capture schema changes: only a superuser may; or migrate offline)`,
    );
  if (rights.unreadable.length > 0)
    missing.push(
      rights.readAllRole
        ? `GRANT pg_read_all_data TO ${u} (it may not read ${rights.unreadable.slice(0, 5).join(', ')}${rights.unreadable.length > 5 ? ` and ${rights.unreadable.length - 5} more` : ''})`
        : `GRANT SELECT on ${rights.unreadable.join(', ')} (and USAGE on their schemas) TO ${u}`,
    );
  if (mode === 'offline' && freeze && !rights.ownsDatabase)
    missing.push(
      `GRANT ${quoteIdent(rights.databaseOwner)} TO ${u} (the freeze sets the database's default_transaction_read_only, which its owner may; or --no-freeze)`,
    );
  if (mode === 'offline' && freeze && !rights.signalBackend)
    missing.push(
      `GRANT pg_signal_backend TO ${u} (the freeze ends the sessions begun before it; or --no-freeze)`,
    );
  return outcome(missing, who, 'source');
}

/**
 * What a target user who is not superuser lacks: CREATEDB (or CREATE in an existing target
 * database), CREATEROLE when roles are copied and some are missing, SET on
 * session_replication_role (the copy), pg_create_subscription online, and SET and INHERIT on every
 * role that owns objects of the source database (a role pgferry copies or may grant itself is
 * fine: copyRoles grants it). Objects whose owner lacks CREATE on their schema cannot be given to
 * it by anyone but a superuser: the fix is a GRANT on the source.
 */
export function targetPrivilegesCheck(
  mode: MigrationMode,
  t: TargetRights,
  database: string,
  source: { readonly owners: readonly SourceOwner[]; readonly rights: SourceRights | undefined },
  missingRoles: readonly string[],
  copiesRoles: boolean,
): CheckOutcome {
  const who = `"${t.name}"`;
  if (t.superuser) return { ok: true, message: `the target user ${who} is a superuser` };
  const u = quoteIdent(t.name);
  const actAs = (role: string) => actAsGrantSql(role, t.name, t.major);
  const missing: string[] = [];
  if (t.createInDatabase === null && !t.createdb) missing.push(`ALTER ROLE ${u} CREATEDB`);
  if (t.createInDatabase === false) missing.push(`GRANT CREATE ON DATABASE ${quoteIdent(database)} TO ${u}`);
  if (copiesRoles && missingRoles.length > 0 && !t.createrole) missing.push(`ALTER ROLE ${u} CREATEROLE`);
  if (!t.replicaRole)
    missing.push(
      t.major >= 15
        ? `GRANT SET ON PARAMETER session_replication_role TO ${u}`
        : `connect as a superuser: before PostgreSQL 15 only a superuser may SET session_replication_role (the copy)`,
    );
  if (mode === 'online' && !t.subscribe)
    missing.push(
      t.major >= 16
        ? `GRANT pg_create_subscription TO ${u}`
        : `connect as a superuser: before PostgreSQL 16 only a superuser may CREATE SUBSCRIPTION`,
    );
  for (const role of t.owners) {
    if (role.acts || (copiesRoles && role.can)) continue;
    if (source.owners.some((o) => o.name === role.name && o.superuser)) continue; // named below
    missing.push(
      role.superuser
        ? `REASSIGN OWNED BY ${quoteIdent(role.name)} TO another role in the source database (${quoteIdent(role.name)} is a superuser on the target: ${u} cannot give objects to it)`
        : actAs(role.name),
    );
  }
  for (const owner of source.owners.filter((o) => o.superuser))
    missing.push(
      `REASSIGN OWNED BY ${quoteIdent(owner.name)} TO another role in the source database (${quoteIdent(owner.name)} is a superuser on the source: ${u} cannot give objects to a superuser, nor copy one)`,
    );
  // Owners the target lacks, once its user creates them (roles.present's fix), need the same grant.
  if (!copiesRoles)
    for (const role of missingRoles.filter((r) => source.owners.some((o) => o.name === r && !o.superuser)))
      missing.push(`${actAs(role)} (once the role exists)`);
  for (const o of source.rights?.ownedWithoutCreate ?? [])
    missing.push(
      `${o.fix} on the source (${o.name}: only a superuser can restore an owner without CREATE on its schema)`,
    );
  return outcome(missing, who, 'target');
}
