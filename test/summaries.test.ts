import { describe, expect, it } from 'vitest';
import type { Activities } from '../activities';
import type { Chunk } from '../domain/chunks';
import {
  activitySummary,
  SUMMARIZED_ACTIVITIES,
  SUMMARY_MAX_LENGTH,
  type ActivityInput,
} from '../workflows/summaries';

const SRC = 'postgres://app@127.0.0.1:5432/shop?password_env=SHOP_PW';
const DST = 'postgres://app@10.0.0.7:5433/shop_new?sslmode=require';

function chunk(table: string, range?: { fromPage: number; toPage?: number }, part?: number): Chunk {
  const id = range
    ? `public.${table}#${part ?? 1}[${range.fromPage},${range.toPage ?? ''})`
    : `public.${table}`;
  return { id, schema: 'public', table, columns: ['id'], estimatedBytes: 1, ...(range ? { range } : {}) };
}

/** One plausible input per activity: the summary of each is checked for secrets and shape. */
const SAMPLES: { [K in keyof Activities]: ActivityInput<K> } = {
  provisionDatabase: { target: DST, marker: 'm' },
  provisionLocalCluster: { cluster: 'c1', database: 'shop', pgVersion: 17, marker: 'm' },
  checkBackupInput: { source: SRC, to: '/var/backups/pg' },
  dumpDatabase: { source: SRC, to: 'https://user:secret@acct.blob.example/c?sig=TOKEN', name: 'b', jobs: 2 },
  verifyBackup: { from: '/var/backups/pg/shop-1' },
  checkRestoreTarget: { from: '/var/backups/pg/shop-1', target: DST, marker: 'm' },
  restoreDatabase: { from: '/var/backups/pg/shop-1', target: DST, jobs: 1, marker: 'm' },
  checkRestoredRows: { from: '/var/backups/pg/shop-1', target: DST },
  pruneBackups: { to: 'azblob://backups/pg/prod', schedule: 'nightly', keep: 7, protect: 'nightly-1' },
  runPreflight: { source: SRC, target: DST, mode: 'online' },
  copySchemaSection: { source: SRC, target: DST, section: 'pre-data', jobs: 2, marker: 'm' },
  buildTableIndexes: {
    source: SRC,
    target: DST,
    tables: [{ schema: 'public', table: 'accounts' }],
    analyze: true,
    validate: 'checksums',
  },
  freezeSource: { source: SRC },
  unfreezeSource: { source: SRC },
  verifyFence: { source: SRC, slot: 'pgferry_fence_0123456789abcdef' },
  dropOwnTarget: { target: DST, marker: 'm' },
  listCopyTables: { source: SRC, snapshot: '00000003-1' },
  ensureLedger: { target: DST },
  copyChunk: { source: SRC, target: DST, migration: 'shop', chunk: chunk('accounts') },
  copyChunks: { source: SRC, target: DST, migration: 'shop', chunks: [chunk('accounts')] },
  chunksDone: { target: DST, migration: 'shop' },
  syncSequences: { source: SRC, target: DST },
  copyLargeObjects: { source: SRC, target: DST },
  validateTables: { source: SRC, target: DST, level: 'checksums' },
  countSourceRows: { source: SRC },
  countTargetRows: { target: DST },
  validateLive: { source: SRC, target: DST, level: 'checksums', slot: 'pgferry_shop_0123456789abcdef' },
  holdSlotSnapshot: { source: SRC, target: DST, migration: 'shop', slot: 'pgferry_shop', token: 't' },
  awaitSnapshot: { target: DST, migration: 'shop', token: 't' },
  createPublication: { source: SRC, publication: 'pgferry_shop' },
  createSubscription: {
    source: SRC,
    target: DST,
    subscription: 'pgferry_shop',
    publication: 'pgferry_shop',
    slot: 'pgferry_shop',
  },
  captureDdl: { source: SRC, target: DST, publication: 'pgferry_shop', migration: 'shop', policy: 'apply' },
  listDdlChanges: { source: SRC, target: DST, publication: 'pgferry_shop' },
  approveDdlChange: {
    source: SRC,
    target: DST,
    publication: 'pgferry_shop',
    migration: 'shop',
    change: 3,
    by: 'alice',
    reason: 'column the release needs',
  },
  joinNewTables: {
    source: SRC,
    target: DST,
    subscription: 'pgferry_shop',
    publication: 'pgferry_shop',
    tables: ['public.orders_2027'],
  },
  replicationLag: { source: SRC, target: DST, slot: 'pgferry_shop', subscription: 'pgferry_shop' },
  currentLsn: { source: SRC },
  watchReplication: {
    source: SRC,
    target: DST,
    slot: 'pgferry_shop',
    subscription: 'pgferry_shop',
    ready: true,
    caughtUpBytes: 1024,
  },
  sourceClock: { source: SRC },
  waitForReplay: { source: SRC, target: DST, slot: 's', subscription: 's', lsn: '0/16B3748' },
  dropReplication: { source: SRC, target: DST, subscription: 's', publication: 's', slot: 'pgferry_shop' },
  dropSubscription: { source: SRC, target: DST, subscription: 's', publication: 's', slot: 'pgferry_shop' },
  dropSourceReplication: {
    source: SRC,
    target: DST,
    subscription: 's',
    publication: 's',
    slot: 'pgferry_shop',
  },
  cleanSource: { source: SRC, migration: 'migration-shop', unfreeze: true, dryRun: true },
  cleanTarget: { target: DST, migration: 'migration-shop', storage: [], dryRun: false },
  resetCopy: { source: SRC, target: DST, migration: 'shop' },
  analyzeTarget: { target: DST },
  setAsIsStorage: {
    source: SRC,
    target: DST,
    tables: [{ schema: 'public', table: 'documents', columns: ['id', 'body'] }],
  },
  restoreStorage: { target: DST, tables: [{ schema: 'public', table: 'documents', columns: ['body'] }] },
  switchEndpoint: {
    migration: 'shop',
    source: SRC,
    target: DST,
    url: 'https://hooks.example/T0/B0/secret?token=x',
  },
  openReverse: { source: SRC, target: DST, slot: 'pgferry_back', publication: 'p', subscription: 's' },
  subscribeReverse: { source: SRC, target: DST, slot: 'pgferry_back', publication: 'p', subscription: 's' },
  closeReverse: { source: SRC, target: DST, slot: 'pgferry_back', publication: 'p', subscription: 's' },
  remindApproval: { name: 'shop', secondsLeft: 30, approvers: ['alice'] },
  finalizeTarget: { target: DST },
  listDatabases: { source: SRC },
  replicationRoom: { source: SRC, target: DST },
  copyRoles: { source: SRC, target: DST, passwords: true, database: true },
  notifyTargets: { targets: ['slack:C0123', 'webhook:https://hooks.example/secret?token=x'] },
  notify: {
    target: 'webhook:https://hooks.example/T0/B0/secret?token=x',
    // Only the event name is summarized; the rest of the notification does not matter here.
    notification: { event: 'approval' } as unknown as ActivityInput<'notify'>['notification'],
  },
};

const summary = <K extends keyof Activities>(name: K) => activitySummary(name, SAMPLES[name]);

describe('activity summaries shown in the Temporal UI', () => {
  it('exist for every activity, on one short line, without URLs, users or secrets', () => {
    expect([...SUMMARIZED_ACTIVITIES].sort()).toEqual(Object.keys(SAMPLES).sort());
    for (const name of SUMMARIZED_ACTIVITIES) {
      const text = summary(name);
      expect(text.length, name).toBeGreaterThan(0);
      expect(text.length, name).toBeLessThanOrEqual(SUMMARY_MAX_LENGTH);
      expect(text, name).not.toMatch(/postgres:\/\/|app@|password|SHOP_PW|secret|TOKEN|token=|sslmode|\n/i);
    }
  });

  it('name the step and the databases as host:port/db', () => {
    expect(summary('copySchemaSection')).toBe(
      'pre-data schema: 127.0.0.1:5432/shop → 10.0.0.7:5433/shop_new',
    );
    expect(summary('validateTables')).toBe(
      'validate checksums: 127.0.0.1:5432/shop → 10.0.0.7:5433/shop_new',
    );
    expect(summary('freezeSource')).toBe('freeze writes on 127.0.0.1:5432/shop');
    expect(summary('switchEndpoint')).toBe('switch endpoint: POST to https://hooks.example');
    expect(summary('dumpDatabase')).toBe(
      'pg_dump 127.0.0.1:5432/shop → https://acct.blob.example/c (2 jobs)',
    );
    expect(summary('pruneBackups')).toBe(
      'keep the newest 7 backups of schedule nightly in azblob://backups/pg/prod',
    );
  });

  it('list the first chunks of a batch, the piece of a split table, and count the rest', () => {
    const chunks = [
      chunk('accounts', { fromPage: 0, toPage: 2048 }, 1),
      chunk('accounts', { fromPage: 2048 }, 2),
      chunk('orders'),
      chunk('items'),
      chunk('notes'),
    ];
    expect(activitySummary('copyChunks', { source: SRC, target: DST, migration: 'shop', chunks })).toBe(
      'copy 5 chunks: public.accounts [part 1, pages 0–2048], public.accounts [part 2, pages 2048–end], public.orders, … (2 more)',
    );
  });

  it('never quote a URL that does not parse, and never throw', () => {
    // Such an input cannot pass the workflow's own parsing; the summary must still leave it out.
    expect(activitySummary('freezeSource', { source: 'postgres://app:hunter2@db:5432/shop' })).toBe(
      'freeze writes on a database',
    );
    expect(
      activitySummary('copyChunks', {
        source: SRC,
        target: DST,
        migration: 'shop',
        chunks: undefined as never,
      }),
    ).toBe('copyChunks');
  });

  it('keep a long table name on one line and within the limit', () => {
    const long = chunk(`t\n${'x'.repeat(300)}`);
    const text = activitySummary('copyChunk', { source: SRC, target: DST, migration: 'shop', chunk: long });
    expect(text).not.toContain('\n');
    expect(text.length).toBe(SUMMARY_MAX_LENGTH);
    expect(text.endsWith('…')).toBe(true);
  });
});
