import type { Client } from 'pg';
import type { CleanSourceInput, CleanTargetInput } from '../domain/activity-inputs';
import { withDatabase, type ConnSpec } from '../domain/connection';
import type { Leftover } from '../domain/contracts';
import { ErrorCode, PgferryError } from '../domain/errors';
import { fenceSlotName, replicationObjectName, reverseObjectName } from '../domain/names';
import type { TableColumns } from '../domain/tables';
import { dropSlot, dropSubscriptionOn } from './cutover';
import { ddlCaptureFound, removeDdlCapture } from './ddl';
import { ddlObjects } from './pg/ddl-sql';
import type { ActivityDeps } from './deps';
import { withHeartbeat } from './heartbeat';
import { unfreezeSource } from './freeze';
import { restoreExtended } from './pg/as-is';
import {
  CHUNK_ROWS,
  EXTERNAL_COLUMNS,
  LEDGER_SCHEMA_EXISTS,
  SLOT_IN_DATABASE,
  SNAPSHOT_ROWS,
  type LedgerRows,
} from './pg/cleanup-sql';
import { withClient, withTransaction } from './pg/connect';
import { DATABASE_OID, planUnfreeze, SETTINGS_ENTRIES, type SettingsEntry } from './pg/fence-sql';
import {
  ADVISORY_XACT_LOCK,
  DELETE_CHUNKS,
  DROP_LEDGER,
  LEDGER_DDL_KEY,
  LEDGER_EXISTS,
  LEDGER_SCHEMA,
} from './pg/ledger-sql';
import { replicationStep } from './pg/replication-checks';
import {
  DELETE_SNAPSHOTS,
  dropPublicationSql,
  PUBLICATION_EXISTS,
  READ_WRITE_SESSION,
  SNAPSHOTS_EXIST,
  SUBSCRIPTION_STATE,
} from './pg/replication-sql';
import { MAINTENANCE_DB } from './provision/local';

const KEPT_RETIRED =
  'kept: the migration passed its point of no return, so the source stays retired (frozen); lift it by hand only if you mean to write there again';

/** A row of the cleanup's table. */
function leftover(
  object: Leftover['object'],
  where: Leftover['where'],
  name: string,
  found: boolean,
  removed: boolean,
  note?: string,
): Leftover {
  return { object, where, name, found, removed, ...(note === undefined ? {} : { note }) };
}

/** Runs `fn` on a database; a database that does not exist has nothing left in it (undefined). */
async function onDatabase<T>(
  spec: ConnSpec,
  deps: ActivityDeps,
  field: 'source' | 'target',
  fn: (client: Client) => Promise<T>,
): Promise<T | undefined> {
  try {
    return await withClient(spec, deps.env, replicationStep(field, 'cleaning up'), fn);
  } catch (err) {
    if (err instanceof PgferryError && err.code === ErrorCode.DatabaseMissing) return undefined;
    throw err;
  }
}

/**
 * Finds, and unless `dryRun` removes, what a migration left on the source: its freeze (lifted only
 * when `unfreeze`: not past the point of no return), the write fence's slot, the replication slot
 * and the publication, all by the migration's own names. Idempotent: a second run finds nothing.
 */
export async function cleanSource(deps: ActivityDeps, input: CleanSourceInput): Promise<Leftover[]> {
  return withHeartbeat('cleaning up the source', async () => {
    const name = replicationObjectName(input.migration);
    const back = reverseObjectName(input.migration);
    const fence = fenceSlotName(input.migration);
    const frozen = await freezeFound(deps, input.source, fence);
    const found = await onDatabase(input.source, deps, 'source', async (client) => ({
      fenceSlot: await exists(client, SLOT_IN_DATABASE, [fence]),
      slot: await exists(client, SLOT_IN_DATABASE, [name]),
      publication: await exists(client, PUBLICATION_EXISTS, [name]),
      ddlCapture: await ddlCaptureFound(client, name),
      reverse: (await client.query(SUBSCRIPTION_STATE, [back])).rows.length > 0,
    }));
    const lift = frozen && input.unfreeze && !input.dryRun;
    // The source writable again first: an application waits for that, not for the slots.
    if (lift) await unfreezeSource(deps, { source: input.source, fence });
    if (found && !input.dryRun) {
      await withClient(input.source, deps.env, replicationStep('source', 'cleaning up'), async (client) => {
        await client.query(READ_WRITE_SESSION);
        if (found.fenceSlot) await dropSlot(client, fence);
        if (found.slot) await dropSlot(client, name);
        if (found.publication) await client.query(dropPublicationSql(name));
        if (found.ddlCapture) await removeDdlCapture(client, name);
        if (found.reverse) await dropSubscriptionOn(client, { subscription: back, slot: back });
      });
    }
    const gone = !input.dryRun;
    const missing = found === undefined ? 'the source database does not exist' : undefined;
    // A replication object on the source: found, and removed unless this is a dry run.
    const object = (what: Leftover['object'], objectName: string, present = false) =>
      leftover(what, 'source', objectName, present, gone && present, missing);
    return [
      leftover(
        'freeze',
        'source',
        input.source.database,
        frozen,
        lift,
        frozen && !input.unfreeze ? KEPT_RETIRED : missing,
      ),
      object('fence slot', fence, found?.fenceSlot),
      object('slot', name, found?.slot),
      object('publication', name, found?.publication),
      object('ddl capture', ddlObjects(name).table, found?.ddlCapture),
      object('reverse subscription', back, found?.reverse),
    ];
  });
}

/** Whether the source database carries this fence's freeze (what unfreezeSource would put back). */
async function freezeFound(deps: ActivityDeps, source: ConnSpec, fence: string): Promise<boolean> {
  return withClient(
    withDatabase(source, MAINTENANCE_DB),
    deps.env,
    replicationStep('source', 'looking for the freeze'),
    async (client) => {
      const { rows: found } = await client.query<{ oid: string }>(DATABASE_OID, [source.database]);
      const oid = found[0]?.oid;
      if (oid === undefined) return false;
      const { rows: entries } = await client.query<SettingsEntry>(SETTINGS_ENTRIES, [oid]);
      return planUnfreeze(entries, oid, source.database, fence).length > 0;
    },
  );
}

async function exists(client: Client, sql: string, params: unknown[] = []): Promise<boolean> {
  const { rows } = await client.query<{ present: boolean }>(sql, params);
  return rows[0]?.present ?? false;
}

/**
 * Finds, and unless `dryRun` removes, what a migration left on the target: its subscription
 * (detached from its slot first, so the source is never reached), the columns its copy set to
 * EXTERNAL storage, and its ledger rows (pgferry's schema goes when no other migration's rows are
 * left in it). The target database itself is never dropped. Idempotent.
 */
export async function cleanTarget(deps: ActivityDeps, input: CleanTargetInput): Promise<Leftover[]> {
  return withHeartbeat('cleaning up the target', async () => {
    const name = replicationObjectName(input.migration);
    const rows = await onDatabase(input.target, deps, 'target', async (client) => {
      const { rows: subscription } = await client.query(SUBSCRIPTION_STATE, [name]);
      if (subscription.length > 0 && !input.dryRun) {
        await dropSubscriptionOn(client, { subscription: name, slot: name, migration: input.migration });
      }
      const external = await externalColumns(client, input.storage);
      if (!input.dryRun) for (const t of external) await restoreExtended(client, t, t.columns);
      const columns = external.flatMap((t) => t.columns.map((c) => `${t.schema}.${t.table}.${c}`));
      const ledger = await ledgerLeft(client, input.migration, name, input.dryRun);
      const reverse = await reverseLeft(client, reverseObjectName(input.migration), input.dryRun);
      return [
        leftover(
          'subscription',
          'target',
          name,
          subscription.length > 0,
          subscription.length > 0 && !input.dryRun,
        ),
        leftover(
          'column storage',
          'target',
          columns.length > 0 ? columns.join(', ') : 'EXTERNAL columns',
          columns.length > 0,
          columns.length > 0 && !input.dryRun,
        ),
        leftover('ledger', 'target', LEDGER_SCHEMA, ledger.found, ledger.found && !input.dryRun, ledger.note),
        ...reverse,
      ];
    });
    if (rows) return rows;
    const note = 'the target database does not exist';
    return [
      leftover('subscription', 'target', name, false, false, note),
      leftover('column storage', 'target', 'EXTERNAL columns', false, false, note),
      leftover('ledger', 'target', LEDGER_SCHEMA, false, false, note),
    ];
  });
}

/**
 * The fallback window's slot and publication on the target (a migration ended in its window),
 * removed unless `dryRun`; the target may be frozen by a fallback, so the session writes on purpose.
 */
async function reverseLeft(client: Client, back: string, dryRun: boolean): Promise<Leftover[]> {
  const slot = await exists(client, SLOT_IN_DATABASE, [back]);
  const publication = await exists(client, PUBLICATION_EXISTS, [back]);
  if (!dryRun && (slot || publication)) {
    await client.query(READ_WRITE_SESSION);
    if (slot) await dropSlot(client, back);
    if (publication) await client.query(dropPublicationSql(back));
  }
  return [
    leftover('reverse slot', 'target', back, slot, slot && !dryRun),
    leftover('reverse publication', 'target', back, publication, publication && !dryRun),
  ];
}

/** The columns, of those the copy set, that are still EXTERNAL. */
async function externalColumns(client: Client, storage: readonly TableColumns[]): Promise<TableColumns[]> {
  const out: TableColumns[] = [];
  for (const t of storage) {
    const { rows } = await client.query<{ column: string }>(EXTERNAL_COLUMNS, [t.schema, t.table, t.columns]);
    if (rows.length > 0) out.push({ schema: t.schema, table: t.table, columns: rows.map((r) => r.column) });
  }
  return out;
}

/**
 * The migration's rows in pgferry's schema (chunks, snapshots), removed unless `dryRun`; the
 * schema goes with them when no other migration's rows are in it. Found: rows of this migration,
 * or the schema holding nobody's rows.
 */
async function ledgerLeft(
  client: Client,
  migration: string,
  slot: string,
  dryRun: boolean,
): Promise<{ found: boolean; note?: string }> {
  return withTransaction(client, async () => {
    await client.query(ADVISORY_XACT_LOCK, [LEDGER_DDL_KEY]);
    if (!(await exists(client, LEDGER_SCHEMA_EXISTS))) return { found: false };
    const none: LedgerRows = { mine: 0, others: 0 };
    const chunks = (await exists(client, LEDGER_EXISTS))
      ? ((await client.query<LedgerRows>(CHUNK_ROWS, [migration])).rows[0] ?? none)
      : none;
    const snapshots = (await exists(client, SNAPSHOTS_EXIST))
      ? ((await client.query<LedgerRows>(SNAPSHOT_ROWS, [migration, slot])).rows[0] ?? none)
      : none;
    const mine = chunks.mine + snapshots.mine;
    const others = chunks.others + snapshots.others;
    if (mine === 0 && others > 0) return { found: false };
    if (dryRun) return { found: true };
    if (others > 0) {
      if (chunks.mine > 0) await client.query(DELETE_CHUNKS, [migration]);
      if (snapshots.mine > 0) await client.query(DELETE_SNAPSHOTS, [migration, slot]);
      return {
        found: true,
        note: `this migration's rows removed; the schema stays for ${others} row(s) of other migrations`,
      };
    }
    await client.query(DROP_LEDGER);
    return { found: true };
  });
}
