import type { Activities } from '../activities';
import { qualifiedTableName, type Chunk } from '../domain/chunks';
import { connectionLabel, tryParseConnectionUrl } from '../domain/connection';
import type { TableRef } from '../domain/tables';

/** The input of one activity, by name (every pgferry activity takes a single input object). */
export type ActivityInput<K extends keyof Activities> = Parameters<Activities[K]>[0];

/** Longest summary: the UI shows one line; a batch of a hundred chunk names would not fit. */
export const SUMMARY_MAX_LENGTH = 160;
/** Chunks named in a batch's summary before the rest are counted. */
const NAMED_CHUNKS = 3;

/**
 * `host:port/db` of a connection URL, never the URL itself: the label holds no user, password or
 * parameter, whatever the URL carried. A URL that does not parse is not quoted at all.
 */
function db(url: string): string {
  const parsed = tryParseConnectionUrl(url);
  return 'spec' in parsed ? connectionLabel(parsed.spec) : 'a database';
}

/**
 * A storage location as a person reads it: a path as is; a URL (object storage later) without its
 * credentials and query, where tokens such as SAS signatures live.
 */
function place(location: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) return location;
  try {
    const url = new URL(location);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return 'a storage location';
  }
}

/** A hook URL reduced to its origin: paths and queries of webhooks often carry tokens. */
function origin(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}`;
  } catch {
    return 'a hook';
  }
}

/** A chunk as the UI lists it: the table, and which piece of it when it was split. */
function chunkLabel(chunk: Chunk): string {
  const table = qualifiedTableName(chunk.schema, chunk.table);
  if (!chunk.range) return table;
  const part = /#(\d+)\[/.exec(chunk.id)?.[1];
  const pages = `pages ${chunk.range.fromPage}–${chunk.range.toPage ?? 'end'}`;
  return `${table} [${part ? `part ${part}, ` : ''}${pages}]`;
}

function chunkList(chunks: readonly Chunk[]): string {
  const named = chunks.slice(0, NAMED_CHUNKS).map(chunkLabel);
  const rest = chunks.length - named.length;
  return rest > 0 ? `${named.join(', ')}, … (${rest} more)` : named.join(', ');
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** What an index step does: indexes, then statistics and validation when asked. */
function indexStepParts(i: { analyze?: boolean; validate?: string }): string {
  const parts = [
    'indexes',
    ...(i.analyze ? ['statistics'] : []),
    ...(i.validate ? [`${i.validate} validation`] : []),
  ];
  return parts.length > 1 ? `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}` : 'indexes';
}

/** The first few tables' names, then an ellipsis. */
function tableList(tables: readonly TableRef[]): string {
  const named = tables.slice(0, NAMED_CHUNKS).map((t) => qualifiedTableName(t.schema, t.table));
  return `${named.join(', ')}${tables.length > NAMED_CHUNKS ? ', …' : ''}`;
}

/**
 * One summary per activity, so that adding an activity without one does not compile. Each reads
 * its input only; none quotes a connection URL (see `db`).
 */
const SUMMARIES: { readonly [K in keyof Activities]: (input: ActivityInput<K>) => string } = {
  provisionDatabase: (i) => `provision database ${db(i.target)}`,
  provisionLocalCluster: (i) =>
    `provision local cluster ${i.cluster}${i.pgVersion ? ` (PostgreSQL ${i.pgVersion})` : ''}, database ${i.database}`,
  checkBackupInput: (i) => `check backup of ${db(i.source)} to ${place(i.to)}`,
  dumpDatabase: (i) => `pg_dump ${db(i.source)} → ${place(i.to)} (${plural(i.jobs, 'job')})`,
  verifyBackup: (i) => `verify backup ${place(i.from)}`,
  checkRestoreTarget: (i) => `check restore target ${db(i.target)}`,
  restoreDatabase: (i) => `pg_restore ${place(i.from)} → ${db(i.target)} (${plural(i.jobs, 'job')})`,
  checkRestoredRows: (i) => `compare rows on ${db(i.target)} with the backup manifest`,
  pruneBackups: (i) =>
    `keep the newest ${plural(i.keep, 'backup')} of schedule ${i.schedule} in ${place(i.to)}`,
  runPreflight: (i) => `preflight checks (${i.mode}): ${db(i.source)} → ${db(i.target)}`,
  copySchemaSection: (i) => `${i.section} schema: ${db(i.source)} → ${db(i.target)}`,
  buildTableIndexes: (i) =>
    `${indexStepParts(i)} of ${plural(i.tables.length, 'copied table')}: ${tableList(i.tables)}`,
  freezeSource: (i) => `freeze writes on ${db(i.source)}`,
  unfreezeSource: (i) => `unfreeze writes on ${db(i.source)}`,
  verifyFence: (i) => `verify that no write passed the fence on ${db(i.source)}`,
  dropOwnTarget: (i) => `drop target ${db(i.target)} (created by this run)`,
  listCopyTables: (i) =>
    `list tables to copy on ${db(i.source)}${i.snapshot ? ' (under the slot snapshot)' : ''}`,
  ensureLedger: (i) => `create the copy ledger on ${db(i.target)}`,
  copyChunk: (i) => `copy ${chunkLabel(i.chunk)}`,
  copyChunks: (i) => `copy ${plural(i.chunks.length, 'chunk')}: ${chunkList(i.chunks)}`,
  setAsIsStorage: (i) =>
    `check TOASTed columns of ${plural(i.tables.length, 'split table')} to load as the source holds them`,
  restoreStorage: (i) => `restore column storage of ${plural(i.tables.length, 'table')} on ${db(i.target)}`,
  chunksDone: (i) => `count copied chunks on ${db(i.target)}`,
  syncSequences: (i) => `sync sequences ${db(i.source)} → ${db(i.target)}`,
  copyLargeObjects: (i) => `copy large objects ${db(i.source)} → ${db(i.target)}`,
  validateTables: (i) =>
    `validate ${i.level}: ${db(i.source)} → ${db(i.target)}${i.skip ? `, besides ${plural(i.skip.length, 'table')} validated during the copy` : ''}`,
  countSourceRows: (i) => `count the rows of the frozen ${db(i.source)}`,
  countTargetRows: (i) => `count the rows of ${db(i.target)}`,
  validateLive: (i) =>
    `validate ${i.level} while replicating: ${db(i.source)} → ${db(i.target)}, range by range`,
  holdSlotSnapshot: (i) => `hold slot ${i.slot} and its snapshot on ${db(i.source)}`,
  awaitSnapshot: (i) => `wait for the slot snapshot (recorded on ${db(i.target)})`,
  createPublication: (i) => `create publication ${i.publication} on ${db(i.source)}`,
  createSubscription: (i) => `create subscription ${i.subscription} on ${db(i.target)}`,
  captureDdl: (i) =>
    i.policy === 'refuse'
      ? `refuse schema changes on ${db(i.source)} during the migration`
      : `capture schema changes on ${db(i.source)} to replay on ${db(i.target)}${i.policy === 'hold' ? ' once approved' : ''}`,
  listDdlChanges: (i) => `list schema changes: ${db(i.source)} → ${db(i.target)}`,
  approveDdlChange: (i) => `record ${i.by}'s approval of schema change #${i.change} on ${db(i.target)}`,
  joinNewTables: (i) =>
    `join ${i.tables.length === 1 ? `table ${i.tables[0]}` : `${i.tables.length} new tables`} to subscription ${i.subscription}`,
  replicationLag: (i) => `measure replication lag ${db(i.source)} → ${db(i.target)}`,
  currentLsn: (i) => `read the current LSN of ${db(i.source)}`,
  watchReplication: (i) =>
    i.maxWaitSeconds === 0
      ? `check replication ${i.slot} before the freeze`
      : `watch replication ${i.slot}: ${db(i.source)} → ${db(i.target)}`,
  sourceClock: (i) => `read the clock of ${db(i.source)}`,
  waitForReplay: (i) => `wait until ${db(i.target)} has replayed ${i.lsn ?? 'the frozen source'}`,
  dropReplication: (i) => `drop subscription, slot and publication ${i.slot}`,
  dropSubscription: (i) => `drop subscription ${i.subscription} on ${db(i.target)}`,
  dropSourceReplication: (i) => `drop slot and publication ${i.slot} on ${db(i.source)}`,
  cleanSource: (i) =>
    `${i.dryRun ? 'look for' : 'remove'} what migration ${i.migration} left on ${db(i.source)}`,
  cleanTarget: (i) =>
    `${i.dryRun ? 'look for' : 'remove'} what migration ${i.migration} left on ${db(i.target)}`,
  resetCopy: (i) => `empty ${db(i.target)} to restart the copy`,
  analyzeTarget: (i) =>
    `analyze ${db(i.target)}${i.skip ? `, besides ${plural(i.skip.length, 'table')} analyzed during the copy` : ''}`,
  switchEndpoint: (i) =>
    `${i.direction === 'fallback' ? 'switch endpoint back to the source' : 'switch endpoint'}${i.url ? `: POST to ${origin(i.url)}` : ' (no hook)'}`,
  openReverse: (i) => `open the fallback window: publication and slot ${i.slot} on ${db(i.target)}`,
  subscribeReverse: (i) => `subscribe ${db(i.source)} to ${db(i.target)} for the fallback window`,
  closeReverse: (i) => `close the fallback window: drop subscription, slot and publication ${i.slot}`,
  remindApproval: (i) =>
    i.secondsLeft > 0
      ? `remind approvers of ${i.name}: ${i.secondsLeft}s left`
      : `remind approvers of ${i.name}: deadline passed`,
  finalizeTarget: (i) => `finalize target ${db(i.target)}`,
  notifyTargets: (i) =>
    `resolve notification targets (${i.targets.length === 0 ? 'none given' : `${i.targets.length} given`})`,
  listDatabases: (i) => `list the databases of the server of ${db(i.source)}`,
  replicationRoom: (i) =>
    `count the free replication slots and WAL senders of the server of ${db(i.source)} and the free apply workers of the server of ${db(i.target)}`,
  copyRoles: (i) =>
    `copy roles${i.passwords ? ' with their pg_authid hashes' : ''} from the server of ${db(i.source)} to the server of ${db(i.target)}${i.database ? ", with the database's settings and privileges" : ''}`,
  notify: (i) =>
    `notify ${i.notification.event} → ${i.target.startsWith('webhook:') ? `webhook ${origin(i.target.slice('webhook:'.length))}` : i.target}`,
};

/** The names of every activity that has a summary: all of them (the map's type says so). */
export const SUMMARIZED_ACTIVITIES = Object.keys(SUMMARIES) as (keyof Activities)[];

/**
 * The one-line summary the Temporal UI shows for a scheduled activity, e.g. "pre-data schema:
 * 127.0.0.1:5432/shop → 127.0.0.1:5432/shop_new". Pure and deterministic (it runs in workflow
 * code); it never throws, since a throw here would fail the workflow task, and never quotes a
 * connection URL, so no password can reach the history through it.
 */
export function activitySummary<K extends keyof Activities>(name: K, input: ActivityInput<K>): string {
  let text: string;
  try {
    text = SUMMARIES[name](input);
  } catch {
    text = name;
  }
  // One line, as the UI lays it out; control characters could come from table names.
  // eslint-disable-next-line no-control-regex
  const line = text.replace(/[\u0000-\u001f\u007f]+/g, ' ');
  return line.length > SUMMARY_MAX_LENGTH ? `${line.slice(0, SUMMARY_MAX_LENGTH - 1)}…` : line;
}
