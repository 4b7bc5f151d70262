import type { Client } from 'pg';
import type { ProvisionDatabaseInput } from '../../domain/activity-inputs';
import { formatConnectionUrl, withDatabase, type ConnSpec } from '../../domain/connection';
import type { ProvisionResult } from '../../domain/contracts';
import { ErrorCode, PgferryError } from '../../domain/errors';
import type { ActivityDeps } from '../deps';
import { withHeartbeat } from '../heartbeat';
import { databaseInfo, isDatabaseEmpty, serverVersion } from '../pg/catalog';
import { withClient } from '../pg/connect';
import { createDatabaseSql, dropDatabaseSql, markDatabaseSql } from '../pg/database-sql';
import { SqlState } from '../pg/sqlstate';

/** The database every server has, used to create and inspect others. */
export const MAINTENANCE_DB = 'postgres';

async function createDatabase(admin: Client, name: string, marker: string): Promise<boolean> {
  try {
    await admin.query(createDatabaseSql(name));
  } catch (err) {
    // Another attempt created it in between: fall through to the checks of an existing database.
    // Two CREATE DATABASE at the same instant collide on pg_database's unique index instead.
    const code = (err as { code?: string }).code;
    if (code === SqlState.DuplicateDatabase || code === SqlState.UniqueViolation) return false;
    throw err;
  }
  await admin.query(markDatabaseSql(name, marker));
  return true;
}

/**
 * Makes the target database exist: created when absent, reused when empty (and stamped as ours),
 * reused when it carries our marker (a retry resumes), refused when it holds data of someone else.
 */
export async function provisionDatabase(
  deps: ActivityDeps,
  input: ProvisionDatabaseInput,
): Promise<ProvisionResult> {
  const spec = input.target;
  const admin = withDatabase(spec, MAINTENANCE_DB);
  // CREATE DATABASE copies its template and checkpoints: seconds on a busy server.
  return withHeartbeat('provisioning the target database', async () => {
    // Provision changes nothing before this: an unreachable target is bad input (ConnectionFailed).
    const step = { field: 'target', firstContact: true };
    const { created, version } = await withClient(admin, deps.env, step, async (client) => {
      const { version } = await serverVersion(client);
      const info = await databaseInfo(client, spec.database);
      if (!info.exists) {
        return { created: await createDatabase(client, spec.database, input.marker), version };
      }
      return { created: false, version };
    });
    if (!created) await claimExisting(deps, spec, input.marker);
    deps.logger.info({ target: spec.database, created }, 'target database provisioned');
    return {
      provider: 'local',
      target: formatConnectionUrl(spec),
      created,
      serverVersion: version,
      marker: input.marker,
    };
  });
}

async function claimExisting(deps: ActivityDeps, spec: ConnSpec, marker: string): Promise<void> {
  const info = await withClient(withDatabase(spec, MAINTENANCE_DB), deps.env, 'target', (c) =>
    databaseInfo(c, spec.database),
  );
  if (info.comment === marker) return;
  const empty = await withClient(spec, deps.env, 'target', (c) => isDatabaseEmpty(c));
  if (!empty) {
    throw new PgferryError(
      ErrorCode.TargetNotEmpty,
      `target: database "${spec.database}" on ${spec.host}:${spec.port} already holds objects, and pgferry did not create it`,
      { field: 'target', fix: 'name a database that does not exist yet or is empty, or drop this one first' },
    );
  }
  await withClient(withDatabase(spec, MAINTENANCE_DB), deps.env, 'target', (c) =>
    c.query(markDatabaseSql(spec.database, marker)),
  );
}

/**
 * Drops and re-creates a database this run provisioned, so that a retried restore starts clean.
 * The owner is kept. Refuses a database that does not carry the marker.
 */
export async function recreateOwnDatabase(deps: ActivityDeps, spec: ConnSpec, marker: string): Promise<void> {
  await withClient(withDatabase(spec, MAINTENANCE_DB), deps.env, 'target', async (client) => {
    const info = await databaseInfo(client, spec.database);
    if (info.exists && info.comment !== marker) {
      throw new PgferryError(
        ErrorCode.TargetNotEmpty,
        `target: database "${spec.database}" was not provisioned by this run, so pgferry will not clear it`,
        { field: 'target', fix: 'name a database that does not exist yet or is empty' },
      );
    }
    if (info.exists) await client.query(dropDatabaseSql(spec.database));
    await client.query(createDatabaseSql(spec.database, info.owner));
    await client.query(markDatabaseSql(spec.database, marker));
  });
}
