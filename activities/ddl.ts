import type { Client } from 'pg';
import type { CaptureDdlInput, JoinTablesInput, ListDdlInput } from '../domain/activity-inputs';
import { withMirroredCaptures } from './captures-mirror';
import type { ActivityDeps } from './deps';
import { heldChange, type HeldChange, readApprovals, withApproval } from './ddl-approval';
import { withHeartbeat } from './heartbeat';
import { inTransaction, withClient } from './pg/connect';
import {
  CAPTURE_EXISTS,
  capturedAfterSql,
  ddlObjects,
  type DdlObjects,
  type DdlRow,
  EXISTING_TABLES,
  installCaptureSql,
  installRefusalSql,
  installReplaySql,
  lastCapturedSql,
  PUBLISHED_TABLES,
  refreshSubscriptionSql,
  removeCaptureSql,
  replayedSql,
  replaySummarySql,
  SUBSCRIBED_TABLES,
  TABLE_EXISTS,
} from './pg/ddl-sql';
import { replicationStep } from './pg/replication-checks';
import { READ_WRITE_SESSION } from './pg/replication-sql';

/** One schema change as status and history list it. */
export interface DdlChange {
  readonly id: number;
  readonly tag: string;
  readonly objects?: string;
  /** The statement as the source ran it (cut at STATEMENT_CHARS). */
  readonly statement: string;
  readonly capturedAt: string;
  /** applied, skipped (the target was so already), failed, resolved (by a person), or pending (not yet replayed). */
  readonly status: string;
  readonly error?: string;
  /** --ddl hold: who approved it, why, and when (the target's clock). */
  readonly approvedBy?: string;
  readonly approvalReason?: string;
  readonly approvedAt?: string;
}

/** The longest statement text a list carries (the history stays bounded). */
const STATEMENT_CHARS = 500;

/**
 * Installs the capture of schema changes (online, before the slot, so that every change after the
 * snapshot is in the change stream): with policy apply or hold, the replay table and trigger on
 * the target first (hold: with its table of approvals), then the capture table (in the publication: FOR ALL TABLES) and its event
 * triggers on the source; with refuse, the source's refusing event triggers only. Idempotent.
 */
export async function captureDdl(
  deps: ActivityDeps,
  input: CaptureDdlInput,
): Promise<{ installed: boolean }> {
  const o = ddlObjects(input.publication);
  return withHeartbeat('installing the capture of schema changes', async () => {
    if (input.policy !== 'refuse') {
      const hold = input.policy === 'hold' ? input.migration : undefined;
      await withClient(
        input.target,
        deps.env,
        replicationStep('target', 'preparing the replay of schema changes'),
        (c) => inTransaction(c, installReplaySql(o, hold)),
      );
    }
    return withClient(
      input.source,
      deps.env,
      replicationStep('source', 'installing the capture of schema changes'),
      async (c) => {
        const { rows } = await c.query<{ present: boolean }>(CAPTURE_EXISTS, [o.base]);
        if (rows[0]?.present) return { installed: false };
        await inTransaction(
          c,
          input.policy === 'refuse' ? installRefusalSql(o, input.migration) : installCaptureSql(o),
        );
        return { installed: true };
      },
    );
  });
}

/**
 * Removes the capture from the source (a session that may write on a frozen source): what the
 * drop of the replication calls, at the end and on rollback. Returns whether it was there.
 */
export async function removeDdlCapture(client: Client, replicationName: string): Promise<boolean> {
  if (!(await ddlCaptureFound(client, replicationName))) return false;
  await client.query(READ_WRITE_SESSION);
  await inTransaction(client, removeCaptureSql(ddlObjects(replicationName)));
  return true;
}

/** Whether the capture of schema changes (its event triggers or its table) is in this database. */
export async function ddlCaptureFound(client: Client, replicationName: string): Promise<boolean> {
  const o = ddlObjects(replicationName);
  const { rows } = await client.query<{ present: boolean }>(CAPTURE_EXISTS, [o.base]);
  const table = await client.query<{ present: boolean }>(TABLE_EXISTS, [o.table]);
  return (rows[0]?.present ?? false) || (table.rows[0]?.present ?? false);
}

/**
 * Every captured schema change and what became of it: the target's rows (replayed, with their
 * status), then the source's rows not yet there (pending; under --ddl hold, held or approved), each
 * with its approval when it has one.
 */
export async function listDdlChanges(deps: ActivityDeps, input: ListDdlInput): Promise<DdlChange[]> {
  const o = ddlObjects(input.publication);
  return withHeartbeat('listing the schema changes', async () => {
    const { replayed, approvals } = await withClient(
      input.target,
      deps.env,
      replicationStep('target', 'reading the schema changes'),
      async (c) => ({
        replayed: await readIfThere(c, o, () => c.query<DdlRow>(replayedSql(o))),
        approvals: await readApprovals(c, o),
      }),
    );
    const last = replayed.at(-1)?.id ?? '0';
    const pending = await withClient(
      input.source,
      deps.env,
      replicationStep('source', 'reading the schema changes'),
      (c) => readIfThere(c, o, () => c.query<DdlRow>(capturedAfterSql(o), [last])),
    );
    return [...replayed, ...pending].map((row) => withApproval(changeOf(row), approvals));
  });
}

async function readIfThere(
  client: Client,
  o: DdlObjects,
  read: () => Promise<{ rows: DdlRow[] }>,
): Promise<DdlRow[]> {
  const { rows } = await client.query<{ present: boolean }>(TABLE_EXISTS, [o.table]);
  return rows[0]?.present ? (await read()).rows : [];
}

function changeOf(row: DdlRow): DdlChange {
  const statement =
    row.statement.length > STATEMENT_CHARS ? `${row.statement.slice(0, STATEMENT_CHARS)}…` : row.statement;
  return {
    id: Number(row.id),
    tag: row.tag,
    ...(row.objects ? { objects: row.objects } : {}),
    statement: statement.trim(),
    capturedAt: row.captured_at,
    status: row.status,
    ...(row.error ? { error: row.error } : {}),
  };
}

/** The schema changes in figures, as the watch reads them on every look. */
export interface DdlFigures {
  /** The last change captured on the source, and the last replayed on the target (ids). */
  readonly captured: number;
  readonly replayed: number;
  readonly failed: number;
  /** The first change that failed on the target. */
  readonly firstFailed?: { id: number; tag: string; statement: string; error: string };
  /** --ddl hold: the first change captured and not yet replayed that nobody has approved (replication waits at it). */
  readonly held?: HeldChange;
}

/** The tables a subscription is missing or still copying, as the watch reads them. */
export interface TableJoins {
  /** Published on the source, present on the target, not yet in the subscription: REFRESH PUBLICATION takes them. */
  readonly joinable: string[];
  /** In the subscription, their rows still being copied (table sync not ready). */
  readonly syncing: string[];
}

/** Reads the schema changes' figures on both sides (undefined when the capture is not there). */
export async function readDdlFigures(
  source: Client,
  target: Client,
  replicationName: string,
): Promise<DdlFigures | undefined> {
  const o = ddlObjects(replicationName);
  const there = async (c: Client) =>
    (await c.query<{ present: boolean }>(TABLE_EXISTS, [o.table])).rows[0]?.present;
  if (!(await there(source)) || !(await there(target))) return undefined;
  const captured = (await source.query<{ last: string }>(lastCapturedSql(o))).rows[0];
  const replay = (
    await target.query<{ last: string; failed: number; first_failed: Record<string, string> | null }>(
      replaySummarySql(o),
    )
  ).rows[0];
  const first = replay?.first_failed;
  const { held } = await heldChange(source, target, replicationName, Number(replay?.last ?? 0));
  return {
    captured: Number(captured?.last ?? 0),
    replayed: Number(replay?.last ?? 0),
    failed: replay?.failed ?? 0,
    ...(held ? { held } : {}),
    ...(first
      ? {
          firstFailed: {
            id: Number(first.id),
            tag: first.tag ?? '',
            statement: (first.statement ?? '').trim().slice(0, STATEMENT_CHARS),
            error: first.error ?? '',
          },
        }
      : {}),
  };
}

/**
 * The problem a change that failed on the target makes, read on the target alone (the cutover's
 * drain: the source is frozen, nothing new is captured); undefined when none failed.
 */
export async function failedDdlProblem(target: Client, replicationName: string): Promise<string | undefined> {
  const o = ddlObjects(replicationName);
  const present = (await target.query<{ present: boolean }>(TABLE_EXISTS, [o.table])).rows[0]?.present;
  if (!present) return undefined;
  const { rows } = await target.query<{ first_failed: Record<string, string> | null }>(replaySummarySql(o));
  const first = rows[0]?.first_failed;
  if (!first) return undefined;
  const failed = {
    id: Number(first.id),
    tag: first.tag ?? '',
    statement: first.statement ?? '',
    error: first.error ?? '',
  };
  return ddlProblem(replicationName, {
    ddl: { captured: failed.id, replayed: failed.id, failed: 1, firstFailed: failed },
  })?.problem;
}

/** Compares the source's published tables with the subscription's on the target. */
export async function readTableJoins(
  source: Client,
  target: Client,
  publication: string,
  subscription: string,
): Promise<TableJoins> {
  const published = (await source.query<{ name: string }>(PUBLISHED_TABLES, [publication])).rows.map(
    (r) => r.name,
  );
  const subscribed = (await target.query<{ name: string; state: string }>(SUBSCRIBED_TABLES, [subscription]))
    .rows;
  const known = new Set(subscribed.map((r) => r.name));
  const missing = published.filter((name) => !known.has(name));
  const joinable =
    missing.length === 0
      ? []
      : (await target.query<{ name: string }>(EXISTING_TABLES, [missing])).rows.map((r) => r.name);
  return { joinable, syncing: subscribed.filter((r) => r.state !== 'r').map((r) => r.name) };
}

/**
 * Lets tables created on the source (and by now on the target) join the subscription: REFRESH
 * PUBLICATION starts a table sync for each, which copies its rows and then follows the stream.
 * Safe to repeat. Returns the tables it was asked for.
 */
export async function joinNewTables(
  deps: ActivityDeps,
  input: JoinTablesInput,
): Promise<{ tables: string[] }> {
  return withHeartbeat('joining new tables to the subscription', () =>
    withClient(
      input.target,
      deps.env,
      replicationStep('target', `refreshing subscription ${input.subscription}`),
      async (client) => {
        await withMirroredCaptures(deps, input, client, () =>
          client.query(refreshSubscriptionSql(input.subscription)),
        );
        return { tables: input.tables };
      },
    ),
  );
}

/**
 * A schema change that failed on the target, one that waits for a person's approval (--ddl hold:
 * `migration` names it in the command to run), or tables joining the subscription: why not ready.
 */
export function ddlProblem(
  replicationName: string,
  f: { ddl?: DdlFigures; joinable?: string[]; syncing?: string[] },
  migration = 'NAME',
): { kind: 'ddl-failed' | 'ddl-held' | 'tables-joining'; problem: string } | undefined {
  const failed = f.ddl?.firstFailed;
  if (failed !== undefined) {
    const table = ddlObjects(replicationName).table;
    return {
      kind: 'ddl-failed',
      problem: `schema change #${failed.id} (${failed.tag}) failed on the target: ${failed.error}; statement: ${failed.statement}. Fix: make the target as the statement meant (mend what the error names, then run it, or an equivalent, on the target database), then mark it done there: UPDATE ${table} SET status = 'resolved' WHERE id = ${failed.id}; or reject the migration`,
    };
  }
  const held = f.ddl?.held;
  if (held !== undefined) {
    const statement = held.statement.slice(0, STATEMENT_CHARS);
    return {
      kind: 'ddl-held',
      problem: `schema change #${held.id} (${held.tag}) waits for a person's approval: pgferry ddl approve ${migration} --change ${held.id} --as WHO --reason TEXT; statement: ${statement}. Replication waits at it (--ddl hold); or reject the migration`,
    };
  }
  const joining = [...(f.joinable ?? []), ...(f.syncing ?? [])];
  if (joining.length > 0) {
    return {
      kind: 'tables-joining',
      problem: `replication: ${joining.join(', ')} (created on the source) ${joining.length === 1 ? 'is' : 'are'} joining the subscription: rows being copied (REFRESH PUBLICATION)`,
    };
  }
  return undefined;
}
