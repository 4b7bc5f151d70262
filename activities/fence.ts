import { createHash } from 'node:crypto';
import type { Client } from 'pg';
import type { FenceBaseline, VerifyFenceInput } from '../domain/activity-inputs';
import { ErrorCode, PgferryError } from '../domain/errors';
import type { FenceMethod } from '../domain/migration';
import { whileNotCancelled } from './cancel';
import type { ActivityDeps } from './deps';
import { withHeartbeat } from './heartbeat';
import { withClient } from './pg/connect';
import {
  CLIENT_SESSIONS,
  CREATE_FENCE_SLOT,
  DROP_FENCE_SLOT,
  FENCE_SLOT_EXISTS,
  FLUSH_BEFORE_PEEK,
  FOREIGN_TRANSACTIONS,
  NO_STATEMENT_TIMEOUT,
  SLOT_CREATE_TIMEOUT,
  SLOT_PEEK_TIMEOUT,
  TABLE_NAMES,
  TABLE_WRITES,
  WATCH_SESSION,
  type ForeignTransactionRow,
  type SessionRow,
  type TableWritesRow,
  type WatchSessionRow,
} from './pg/fence-sql';
import { SqlState } from './pg/sqlstate';

/** Above this many tables, the baseline is a digest only: its entries would swell the history. */
export const FENCE_BASELINE_MAX_TABLES = 10_000;

/** How the freeze left the fence to be watched. */
export interface FenceSetup {
  /** The fence's logical slot, when one was made. */
  readonly slot?: string;
  /** Why there is no slot: the table counters alone will decide. */
  readonly slotSkipped?: string;
  readonly baseline: FenceBaseline;
  /** Roles whose own default_transaction_read_only = off the freeze overrode in the database. */
  readonly roles: readonly string[];
  /** False when the source user could not save the database's original setting (see applyFreeze). */
  readonly saved: boolean;
  /** Milliseconds from the fence's commit to the end of the freeze: sessions gone, counters, slot. */
  readonly addedMs: number;
}

/** What verifyFence found: no write after the fence, by these watches. */
export interface FenceVerified {
  readonly methods: FenceMethod[];
  readonly verifyMs: number;
  readonly notes: string[];
}

/** The tables' files and write counters now (TABLE_WRITES), as a baseline. */
export async function readBaseline(client: Client): Promise<FenceBaseline> {
  const { rows } = await client.query<TableWritesRow>(TABLE_WRITES);
  const entries = rows.map((r) => `${r.oid}:${r.filenode ?? ''}:${r.writes}`).join(',');
  return {
    tables: rows.length,
    digest: createHash('sha256').update(entries).digest('hex'),
    ...(rows.length <= FENCE_BASELINE_MAX_TABLES ? { entries } : {}),
  };
}

/** The watch's session, as createFenceSlot and the freeze need it. */
export async function watchSession(client: Client): Promise<WatchSessionRow> {
  const { rows } = await client.query<WatchSessionRow>(WATCH_SESSION);
  return rows[0]!;
}

/**
 * Makes the fence's logical slot in the session's database (one left by an earlier attempt goes
 * first). When the server cannot (wal_level, privilege, no test_decoding, no free slot, or the
 * transactions running on it keep the slot from starting within 5 s), says why instead: the
 * counters then decide alone.
 */
export async function createFenceSlot(
  client: Client,
  slot: string,
  session: WatchSessionRow,
): Promise<{ slot: string } | { slotSkipped: string }> {
  if (session.wal_level !== 'logical')
    return { slotSkipped: `wal_level is ${session.wal_level}, not logical` };
  await client.query(DROP_FENCE_SLOT, [slot, session.database]);
  await client.query(SLOT_CREATE_TIMEOUT);
  try {
    await client.query(CREATE_FENCE_SLOT, [slot]);
    return { slot };
  } catch (err) {
    const skipped = slotSkippedBecause(err);
    if (skipped === undefined) throw err;
    return { slotSkipped: skipped };
  } finally {
    await client.query(NO_STATEMENT_TIMEOUT).catch(() => undefined);
  }
}

function slotSkippedBecause(err: unknown): string | undefined {
  const { code, message } = err as { code?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message : String(err);
  switch (code) {
    case SqlState.InsufficientPrivilege:
      return `the source user may not create replication slots (${text})`;
    case SqlState.UndefinedFile:
      return `the test_decoding plugin is not installed (${text})`;
    case SqlState.ConfigurationLimitExceeded:
      return `no free replication slot (${text})`;
    case SqlState.QueryCanceled:
      return 'transactions running on the server kept the slot from starting within 5 s';
    case SqlState.DuplicateObject:
      return `a slot of that name is in use (${text})`;
    case SqlState.ObjectNotInPrerequisiteState:
      return text;
    default:
      return undefined;
  }
}

/**
 * Proves that no write committed on the frozen source since the fence, but pgferry's own (the
 * cutover's logical message changes no row): the fence's slot decodes every transaction committed
 * in the database since the freeze, and the tables' files and write counters are compared with the
 * freeze's baseline. Any foreign write fails FenceBreached naming the transactions, their tables
 * and the sessions connected now. The slot is dropped once there is an answer.
 */
export async function verifyFence(deps: ActivityDeps, input: VerifyFenceInput): Promise<FenceVerified> {
  const started = Date.now();
  return withHeartbeat('verifying the write fence', (hb) =>
    withClient(input.source, deps.env, { field: 'source', doing: 'verifying the write fence' }, (client) =>
      whileNotCancelled(hb.signal, client, async () => {
        const methods: FenceMethod[] = [];
        const notes: string[] = [];
        const found: string[] = [];
        if (input.slot !== undefined) {
          const decoded = await peekFenceSlot(client, input.slot);
          if ('lost' in decoded) notes.push(decoded.lost);
          else {
            methods.push('logical-slot');
            if (decoded.rows.length > 0) found.push(describeTransactions(decoded.rows));
          }
        }
        if (input.baseline !== undefined) {
          const compared = await compareBaseline(client, input.baseline);
          if (compared.unprovable === undefined) methods.push('table-counters');
          else notes.push(compared.unprovable);
          if (compared.changes.length > 0) found.push(`table counters: ${compared.changes.join(', ')}`);
        }
        if (found.length === 0 && methods.length === 0 && notes.length > 0) {
          found.push(`nothing could prove the fence held: ${notes.join('; ')}`);
        }
        if (found.length > 0) {
          const { rows: sessions } = await client.query<SessionRow>(CLIENT_SESSIONS, [input.source.database]);
          await dropSlot(client, input);
          throw breached(input.source.database, found, sessions);
        }
        await dropSlot(client, input);
        return { methods, verifyMs: Date.now() - started, notes };
      }),
    ),
  );
}

async function dropSlot(client: Client, input: VerifyFenceInput): Promise<void> {
  if (input.slot !== undefined) await client.query(DROP_FENCE_SLOT, [input.slot, input.source.database]);
}

/** The fence slot's foreign transactions, or why it could not be read (gone, invalidated, too slow). */
async function peekFenceSlot(
  client: Client,
  slot: string,
): Promise<{ rows: ForeignTransactionRow[] } | { lost: string }> {
  const { rows: present } = await client.query<{ present: boolean }>(FENCE_SLOT_EXISTS, [slot]);
  if (!present[0]?.present) return { lost: `the fence slot ${slot} was not there to read` };
  for (const sql of FLUSH_BEFORE_PEEK) await client.query(sql);
  await client.query(SLOT_PEEK_TIMEOUT);
  try {
    const { rows } = await client.query<ForeignTransactionRow>(FOREIGN_TRANSACTIONS, [slot]);
    return { rows };
  } catch (err) {
    const { code, message } = err as { code?: unknown; message?: unknown };
    // Invalidated (max_slot_wal_keep_size), its WAL removed, or too much WAL to decode in time.
    if (
      code === SqlState.ObjectNotInPrerequisiteState ||
      code === SqlState.UndefinedFile ||
      code === SqlState.QueryCanceled
    ) {
      return { lost: `the fence slot ${slot} could not be read: ${String(message)}` };
    }
    throw err;
  } finally {
    await client.query(NO_STATEMENT_TIMEOUT).catch(() => undefined);
  }
}

/** A session as a person finds it in pg_stat_activity. */
export function describeSession(s: SessionRow): string {
  const app = s.application ? ` (${s.application})` : '';
  const from = s.address ? ` from ${s.address}` : '';
  return `pid ${s.pid} user "${s.user ?? '?'}"${app}${from}, ${s.state ?? 'starting'}`;
}

function describeTransactions(rows: readonly ForeignTransactionRow[]): string {
  const total = rows[0]?.transactions ?? rows.length;
  const listed = rows.slice(0, 3).map((r) => {
    const at = r.committed_at ? `, committed ${r.committed_at}` : '';
    return `transaction ${r.xid} changed ${r.changes} row${r.changes === '1' ? '' : 's'} of ${(r.tables ?? []).join(', ')} (WAL ${r.lsn}${at})`;
  });
  const more = total > listed.length ? `, and ${total - listed.length} more` : '';
  return `${listed.join('; ')}${more}`;
}

/** Each table's writes, files, creation or drop since the baseline; or why the counters prove nothing. */
async function compareBaseline(
  client: Client,
  baseline: FenceBaseline,
): Promise<{ changes: string[]; unprovable?: string }> {
  const now = await readBaseline(client);
  if (baseline.entries === undefined || now.entries === undefined) {
    if (now.digest === baseline.digest) return { changes: [] };
    return { changes: [`the tables' files or write counters changed (${now.tables} tables: not named)`] };
  }
  const before = parseEntries(baseline.entries);
  const after = parseEntries(now.entries);
  const changed: { oid: string; what: (name: string) => string }[] = [];
  let reset = false;
  for (const [oid, was] of before) {
    const is = after.get(oid);
    if (is === undefined) changed.push({ oid, what: () => `a table dropped (oid ${oid})` });
    else if (is.filenode !== was.filenode) changed.push({ oid, what: (n) => `${n} rewritten or truncated` });
    else if (is.writes > was.writes)
      changed.push({ oid, what: (n) => `${n} +${is.writes - was.writes} rows written` });
    else if (is.writes < was.writes) reset = true;
  }
  for (const oid of after.keys()) {
    if (!before.has(oid)) changed.push({ oid, what: (n) => `${n} created` });
  }
  const names = await tableNames(
    client,
    changed.map((c) => c.oid),
  );
  return {
    changes: changed.map((c) => c.what(names.get(c.oid) ?? `oid ${c.oid}`)),
    ...(reset
      ? {
          unprovable:
            "the source's table statistics were reset after the freeze (pg_stat_reset, or a restart after a crash): the write counters prove nothing",
        }
      : {}),
  };
}

function parseEntries(entries: string): Map<string, { filenode: string; writes: bigint }> {
  const out = new Map<string, { filenode: string; writes: bigint }>();
  if (entries === '') return out;
  for (const item of entries.split(',')) {
    const [oid = '', filenode = '', writes = '0'] = item.split(':');
    out.set(oid, { filenode, writes: BigInt(writes) });
  }
  return out;
}

async function tableNames(client: Client, oids: readonly string[]): Promise<Map<string, string>> {
  if (oids.length === 0) return new Map();
  const { rows } = await client.query<{ oid: string; name: string }>(TABLE_NAMES, [oids]);
  return new Map(rows.map((r) => [r.oid, r.name]));
}

function breached(database: string, found: readonly string[], sessions: readonly SessionRow[]): PgferryError {
  const now =
    sessions.length === 0
      ? 'no client session is connected to it now'
      : `connected to it now: ${sessions.map(describeSession).join('; ')}`;
  return new PgferryError(
    ErrorCode.FenceBreached,
    `source: a write committed on the frozen database "${database}" after the freeze, and not by pgferry: ${found.join('; ')}. ${now}. The target does not become the primary`,
    {
      field: 'source',
      fix: 'find what wrote and stop it (a session that ran SET default_transaction_read_only = off or BEGIN READ WRITE, a superuser, a background job, a subscription on the source), then start the migration again; it rolls back now and the source stays the primary, writable again',
    },
  );
}
