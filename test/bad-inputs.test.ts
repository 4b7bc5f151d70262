import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { format, resolveConfig } from 'prettier';
import { afterAll, beforeAll, describe, expect, it, type ExpectStatic } from 'vitest';
import type { PgferryClient, WorkflowRun } from '../client/pgferry-client';
import { CONTROL_TASK_QUEUE, WorkflowType } from '../domain/constants';
import { ErrorCode, PgferryError } from '../domain/errors';
import { holdTableLock, type HeldLock } from './helpers/lock';
import { query, startThrowawayCluster, type ThrowawayCluster } from './helpers/pg';
import { runPgferry } from './helpers/processes';
import { serverCatalog, type ServerCatalog } from './helpers/server-catalog';
import { useTemporalSuite } from './helpers/suite';
import { plainTemporal, testEnv } from './helpers/temporal';
import { waitFor, waitForStatus } from './helpers/wait';

/**
 * The bad-input catalog: every row is one input pgferry must refuse, tried through the doors it
 * names — the CLI (`node bin/pgferry.js`, exit 2, the code, the field and the fix, in text and
 * with --json), the library (PgferryClient) and a bare workflow start (the raw input as
 * `temporal workflow start` would send it, past every client check). Each answers within seconds,
 * and the catalogs of both servers are the same after all of them as before.
 * docs/bad-inputs.md is made from this table (PGFERRY_WRITE_BAD_INPUTS=1 rewrites it).
 */

/** The worker's variable that the valid URLs name: trust auth never asks for it. */
const PASSWORD_ENV = 'PGFERRY_PASSWORD_BAD_INPUTS';
/** The password that bad URLs carry: it must never come back in an answer. */
const SECRET = 'hunter2';
/** A worker secret that a URL's password_env names: refused, it is never sent nor repeated. */
const WORKER_SECRET = 'worker-secret-not-a-password';
/** How long a door may take to refuse an input that its own checks catch, on a loaded two-core machine. */
const ANSWER_MS = 20_000;
/**
 * How long it may take when the worker decides (a first activity, a missing backup, the approval
 * gate): a workflow runs, and a refused migration rolls back (nothing) before the CLI can say why.
 */
const WORKER_ANSWER_MS = 45_000;

/** The time a row's refusal may take. */
function budget(row: BadInput): number {
  return row.atWorker || row.code !== undefined ? WORKER_ANSWER_MS : ANSWER_MS;
}
const DOCS = path.join(__dirname, '..', 'docs', 'bad-inputs.md');
const SCHEMA = `CREATE TABLE public.items (id bigserial PRIMARY KEY, name text NOT NULL);
  INSERT INTO public.items (name) SELECT 'item ' || g FROM generate_series(1, 500) g;`;

type Door = 'cli' | 'library' | 'workflow';
type Command =
  | 'migrate'
  | 'backup'
  | 'restore'
  | 'preflight'
  | 'provision'
  | 'approve'
  | 'reject'
  | 'fallback'
  | 'release'
  | 'schedule'
  | 'fleet';

/** What the rows are written against, once the clusters and the two standing migrations exist. */
interface Ctx {
  /** A URL of a database on the source cluster, with the valid password_env unless `params` replace it. */
  source(db?: string, params?: string): string;
  /** The same on the target cluster. */
  target(db?: string, params?: string): string;
  readonly sourcePort: number;
  readonly targetPort: number;
  /** An existing backup storage location (absolute). */
  readonly backups: string;
  /** A migration waiting at its approval gate; only alice may approve it. */
  readonly gated: string;
  /** A migration still in its first stages (a source table is locked): not ready for a decision. */
  readonly busy: string;
  /** A fresh valid name for a migration, backup or cluster. */
  name(): string;
}

/** One bad input. `field: null` when the refusal names no field (the approval gate's refusals). */
interface BadInput {
  readonly command: Command;
  readonly what: string;
  readonly doors: readonly Door[];
  /** The stable code every door answers with; InvalidInput unless said. */
  readonly code?: ErrorCode;
  /** The field named by the library and the workflow (and the CLI unless `cliField`). */
  readonly field: string | null;
  /** The field the CLI names, where its flag is spelled otherwise (`--split-larger-than`, `--as`). */
  readonly cliField?: string;
  /** What every door's message must say. */
  readonly mentions?: RegExp;
  /** The CLI's arguments (without --json). */
  readonly cli?: (c: Ctx) => string[];
  /** The raw input of the library method and of the bare workflow start. */
  readonly input?: (c: Ctx) => unknown;
  /** Refused by the worker in the workflow's first activity (so one runs), not by the input's parse. */
  readonly atWorker?: boolean;
  /** A library call other than `client[command](input)` (decisions name their migration). */
  readonly library?: (c: Ctx, client: PgferryClient) => Promise<unknown>;
}

/** A bare workflow started with no argument at all. */
const NO_INPUT = Symbol('no input');

const migration = (c: Ctx, over: Record<string, unknown> = {}) => ({
  name: c.name(),
  source: c.source(),
  target: c.target('shop_new'),
  mode: 'offline',
  ...over,
});
const migrate = (c: Ctx, ...extra: string[]) => [
  'migrate',
  ...['--name', c.name(), '--source', c.source(), '--target', c.target('shop_new')],
  ...extra,
];
const backupOf = (c: Ctx, over: Record<string, unknown> = {}) => ({
  source: c.source(),
  to: c.backups,
  ...over,
});
const backup = (c: Ctx, ...extra: string[]) => [
  'backup',
  '--source',
  c.source(),
  '--to',
  c.backups,
  ...extra,
];
const restoreOf = (c: Ctx, over: Record<string, unknown> = {}) => ({
  from: path.join(c.backups, 'no-such-backup'),
  target: c.target('restored'),
  ...over,
});
const restore = (c: Ctx, ...extra: string[]) => [
  'restore',
  ...['--from', path.join(c.backups, 'no-such-backup'), '--target', c.target('restored')],
  ...extra,
];
const fleetOf = (c: Ctx, over: Record<string, unknown> = {}) => ({
  name: c.name(),
  sourceServer: c.source('postgres'),
  targetServer: c.target('postgres'),
  ...over,
});
const fleet = (c: Ctx, ...extra: string[]) => [
  'fleet',
  ...['--name', c.name(), '--source-server', c.source('postgres'), '--target-server', c.target('postgres')],
  ...extra,
];
const cluster = (over: Record<string, unknown> = {}) => ({
  provider: 'local-cluster',
  cluster: 'bad-inputs',
  database: 'app',
  ...over,
});
const scheduleOf = (c: Ctx, over: Record<string, unknown> = {}) => ({
  name: c.name(),
  source: c.source(),
  to: c.backups,
  cron: '0 3 * * *',
  keep: 2,
  ...over,
});
const schedule = (c: Ctx, ...extra: string[]) => [
  ...['schedule', 'backup', '--name', c.name(), '--source', c.source(), '--to', c.backups],
  ...['--cron', '0 3 * * *', '--keep', '2', ...extra],
];
const ALL: readonly Door[] = ['cli', 'library', 'workflow'];
const NOT_CLI: readonly Door[] = ['library', 'workflow'];
const CLIENT_DOORS: readonly Door[] = ['cli', 'library'];

const CATALOG: readonly BadInput[] = [
  // migrate: connection URLs
  {
    command: 'migrate',
    what: 'a source URL with a password',
    doors: ALL,
    field: 'source',
    mentions: /password/,
    cli: (c) => migrate(c, '--source', `postgres://postgres:${SECRET}@127.0.0.1:${c.sourcePort}/shop`),
    input: (c) => migration(c, { source: `postgres://postgres:${SECRET}@127.0.0.1:${c.sourcePort}/shop` }),
  },
  {
    command: 'migrate',
    what: 'a target URL with an unknown parameter (application_name)',
    doors: ALL,
    field: 'target',
    mentions: /application_name/,
    cli: (c) => migrate(c, '--target', c.target('shop_new', 'application_name=x')),
    input: (c) => migration(c, { target: c.target('shop_new', 'application_name=x') }),
  },
  {
    command: 'migrate',
    what: 'an sslmode libpq does not know',
    doors: ALL,
    field: 'source',
    mentions: /sslmode/,
    cli: (c) => migrate(c, '--source', c.source('shop', 'sslmode=always')),
    input: (c) => migration(c, { source: c.source('shop', 'sslmode=always') }),
  },
  {
    command: 'migrate',
    what: 'a password_env that is not an environment variable name',
    doors: ALL,
    field: 'source',
    mentions: /password_env/,
    cli: (c) => migrate(c, '--source', c.source('shop', 'password_env=PGFERRY_PASSWORD_A-B')),
    input: (c) => migration(c, { source: c.source('shop', 'password_env=PGFERRY_PASSWORD_A-B') }),
  },
  {
    command: 'migrate',
    what: 'a password_env naming a worker variable without the PGFERRY_PASSWORD_ prefix (refused on the worker)',
    doors: ALL,
    field: 'source',
    mentions: /AWS_SECRET_ACCESS_KEY/,
    atWorker: true,
    cli: (c) => migrate(c, '--source', c.source('shop', 'password_env=AWS_SECRET_ACCESS_KEY')),
    input: (c) => migration(c, { source: c.source('shop', 'password_env=AWS_SECRET_ACCESS_KEY') }),
  },
  {
    command: 'migrate',
    what: 'a target URL whose scheme is not postgres (mysql://)',
    doors: ALL,
    field: 'target',
    mentions: /scheme/,
    cli: (c) => migrate(c, '--target', `mysql://root@127.0.0.1:${c.targetPort}/shop_new`),
    input: (c) => migration(c, { target: `mysql://root@127.0.0.1:${c.targetPort}/shop_new` }),
  },
  {
    command: 'migrate',
    what: 'a source URL that names no database',
    doors: ALL,
    field: 'source',
    mentions: /no database/,
    cli: (c) => migrate(c, '--source', `postgres://postgres@127.0.0.1:${c.sourcePort}`),
    input: (c) => migration(c, { source: `postgres://postgres@127.0.0.1:${c.sourcePort}` }),
  },
  {
    command: 'migrate',
    what: 'the same database as source and target (localhost and 127.0.0.1)',
    doors: ALL,
    field: 'target',
    mentions: /target is the source/,
    cli: (c) => migrate(c, '--target', `postgres://postgres@localhost:${c.sourcePort}/shop`),
    input: (c) => migration(c, { target: `postgres://postgres@localhost:${c.sourcePort}/shop` }),
  },
  // migrate: options
  {
    command: 'migrate',
    what: 'an unknown mode',
    doors: ALL,
    field: 'mode',
    mentions: /offline.*online/,
    cli: (c) => migrate(c, '--mode', 'sideways'),
    input: (c) => migration(c, { mode: 'sideways' }),
  },
  {
    command: 'migrate',
    what: 'jobs 0',
    doors: ALL,
    field: 'jobs',
    cli: (c) => migrate(c, '--jobs', '0'),
    input: (c) => migration(c, { jobs: 0 }),
  },
  {
    command: 'migrate',
    what: 'jobs negative',
    doors: ALL,
    field: 'jobs',
    cli: (c) => migrate(c, '--jobs=-3'),
    input: (c) => migration(c, { jobs: -3 }),
  },
  {
    command: 'migrate',
    what: 'jobs huge (100000)',
    doors: ALL,
    field: 'jobs',
    cli: (c) => migrate(c, '--jobs', '100000'),
    input: (c) => migration(c, { jobs: 100_000 }),
  },
  {
    command: 'migrate',
    what: 'jobs not a whole number (2.5; 0x4 on the command line)',
    doors: ALL,
    field: 'jobs',
    cli: (c) => migrate(c, '--jobs', '0x4'),
    input: (c) => migration(c, { jobs: 2.5 }),
  },
  {
    command: 'migrate',
    what: 'jobs as text ("four")',
    doors: ALL,
    field: 'jobs',
    cli: (c) => migrate(c, '--jobs', 'four'),
    input: (c) => migration(c, { jobs: 'four' }),
  },
  {
    command: 'migrate',
    what: 'split-larger-than garbage ("lots")',
    doors: ALL,
    field: 'splitLargerThan',
    cliField: 'split-larger-than',
    cli: (c) => migrate(c, '--split-larger-than', 'lots'),
    input: (c) => migration(c, { splitLargerThan: 'lots' }),
  },
  {
    command: 'migrate',
    what: 'split-larger-than under 1 MB',
    doors: ALL,
    field: 'splitLargerThan',
    cli: (c) => migrate(c, '--split-larger-than', '1000'),
    input: (c) => migration(c, { splitLargerThan: 1000 }),
  },
  {
    command: 'migrate',
    what: 'an unknown validate level',
    doors: ALL,
    field: 'validate',
    mentions: /none.*counts.*checksums/,
    cli: (c) => migrate(c, '--validate', 'paranoid'),
    input: (c) => migration(c, { validate: 'paranoid' }),
  },
  {
    command: 'migrate',
    what: 'an unknown policy for schema changes (--ddl)',
    doors: ALL,
    field: 'ddl',
    mentions: /apply.*refuse/,
    cli: (c) => migrate(c, '--ddl', 'ignore'),
    input: (c) => migration(c, { ddl: 'ignore' }),
  },
  {
    command: 'migrate',
    what: "roles only (a fleet's: a migration would move nothing)",
    doors: ALL,
    field: 'roles',
    cli: (c) => migrate(c, '--roles', 'only'),
    input: (c) => migration(c, { roles: 'only' }),
  },
  {
    command: 'migrate',
    what: 'role passwords without roles copy',
    doors: ALL,
    field: 'rolePasswords',
    mentions: /roles/,
    cli: (c) => migrate(c, '--role-passwords'),
    input: (c) => migration(c, { rolePasswords: true }),
  },
  {
    command: 'migrate',
    what: 'approvers that name nobody (" , " / an empty name)',
    doors: ALL,
    field: 'approvers.0',
    cliField: 'approvers',
    cli: (c) => migrate(c, '--approvers', ' , '),
    input: (c) => migration(c, { approvers: [''] }),
  },
  {
    command: 'migrate',
    what: 'approvers as one string instead of a list',
    doors: NOT_CLI,
    field: 'approvers',
    input: (c) => migration(c, { approvers: 'alice,bob' }),
  },
  {
    command: 'migrate',
    what: 'an approver name with surrounding spaces',
    doors: NOT_CLI,
    field: 'approvers.0',
    input: (c) => migration(c, { approvers: [' alice'] }),
  },
  {
    command: 'migrate',
    what: 'an approval timeout that is not a duration',
    doors: ALL,
    field: 'approvalTimeoutSeconds',
    cliField: 'approval-timeout',
    cli: (c) => migrate(c, '--approval-timeout', 'tomorrow'),
    input: (c) => migration(c, { approvalTimeoutSeconds: -1 }),
  },
  {
    command: 'migrate',
    what: 'a cutover timeout that is not a duration',
    doors: ALL,
    field: 'cutoverTimeoutSeconds',
    cliField: 'cutover-timeout',
    cli: (c) => migrate(c, '--cutover-timeout', 'soon'),
    input: (c) => migration(c, { cutoverTimeoutSeconds: 'soon' }),
  },
  {
    command: 'migrate',
    what: 'a cutover timeout over an hour',
    doors: ALL,
    field: 'cutoverTimeoutSeconds',
    cli: (c) => migrate(c, '--cutover-timeout', '2h'),
    input: (c) => migration(c, { cutoverTimeoutSeconds: 7200 }),
  },
  {
    command: 'migrate',
    what: 'a fallback window that is not a duration',
    doors: ALL,
    field: 'fallbackWindowSeconds',
    cliField: 'fallback-window',
    cli: (c) => migrate(c, '--mode', 'online', '--fallback-window', 'a while'),
    input: (c) => migration(c, { mode: 'online', fallbackWindowSeconds: 'a while' }),
  },
  {
    command: 'migrate',
    what: 'a fallback window under a minute',
    doors: ALL,
    field: 'fallbackWindowSeconds',
    cli: (c) => migrate(c, '--mode', 'online', '--fallback-window', '30s'),
    input: (c) => migration(c, { mode: 'online', fallbackWindowSeconds: 30 }),
  },
  {
    command: 'migrate',
    what: 'a fallback window on an offline migration',
    doors: ALL,
    field: 'fallbackWindowSeconds',
    mentions: /online/,
    cli: (c) => migrate(c, '--fallback-window', '1h'),
    input: (c) => migration(c, { fallbackWindowSeconds: 3600 }),
  },
  {
    command: 'migrate',
    what: 'a switch-hook timeout that is not a duration',
    doors: ALL,
    field: 'switchHookTimeoutSeconds',
    cliField: 'switch-hook-timeout',
    cli: (c) => migrate(c, '--switch-hook-timeout=-5'),
    input: (c) => migration(c, { switchHookTimeoutSeconds: 0 }),
  },
  {
    command: 'migrate',
    what: 'a max-retained-wal that is not a size',
    doors: ALL,
    field: 'maxRetainedWal',
    cliField: 'max-retained-wal',
    mentions: /plenty/,
    cli: (c) => migrate(c, '--max-retained-wal', 'plenty'),
    input: (c) => migration(c, { maxRetainedWal: 'plenty' }),
  },
  {
    command: 'migrate',
    what: 'a switch hook that is not an http(s) URL',
    doors: ALL,
    field: 'switchHook',
    cli: (c) => migrate(c, '--switch-hook', 'ftp://hooks.example.com/switch'),
    input: (c) => migration(c, { switchHook: 'ftp://hooks.example.com/switch' }),
  },
  {
    command: 'migrate',
    what: 'a notify target that is neither slack: nor webhook:',
    doors: ALL,
    field: 'notify.0',
    cli: (c) => migrate(c, '--notify', 'email:ops@example.com'),
    input: (c) => migration(c, { notify: ['email:ops@example.com'] }),
  },
  {
    command: 'migrate',
    what: 'a name longer than 63 characters',
    doors: ALL,
    field: 'name',
    cli: (c) => migrate(c, '--name', 'n'.repeat(64)),
    input: (c) => migration(c, { name: 'n'.repeat(64) }),
  },
  {
    command: 'migrate',
    what: 'a name with a slash',
    doors: ALL,
    field: 'name',
    cli: (c) => migrate(c, '--name', 'orders/eu'),
    input: (c) => migration(c, { name: 'orders/eu' }),
  },
  {
    command: 'migrate',
    what: 'no name',
    doors: ALL,
    field: 'name',
    cli: (c) => ['migrate', '--source', c.source(), '--target', c.target('shop_new')],
    input: (c) => migration(c, { name: undefined }),
  },
  {
    command: 'migrate',
    what: 'an unknown field (freezeTarget; --freeze-target)',
    doors: ALL,
    field: 'freezeTarget',
    cliField: 'freeze-target',
    mentions: /freeze-?target/i,
    cli: (c) => migrate(c, '--freeze-target'),
    input: (c) => migration(c, { freezeTarget: true }),
  },
  {
    command: 'migrate',
    what: 'an argument the command does not take',
    doors: ['cli'],
    field: 'arguments',
    cli: (c) => [...migrate(c), 'now'],
  },
  {
    command: 'migrate',
    what: 'a flag of the wrong type (autoApprove "yes")',
    doors: NOT_CLI,
    field: 'autoApprove',
    input: (c) => migration(c, { autoApprove: 'yes' }),
  },
  {
    command: 'migrate',
    what: 'a second person required of a migration that approves itself',
    doors: ALL,
    field: 'requireSecondPerson',
    cli: (c) => migrate(c, '--require-second-person', '--auto-approve'),
    input: (c) => migration(c, { requireSecondPerson: true, autoApprove: true, startedBy: 'carol' }),
  },
  {
    command: 'migrate',
    what: 'a bare workflow start with no input at all',
    doors: ['workflow'],
    field: 'input',
    input: () => NO_INPUT,
  },
  {
    command: 'migrate',
    what: 'a bare workflow start whose input is a string',
    doors: ['workflow'],
    field: 'input',
    input: (c) => JSON.stringify(migration(c)),
  },
  // backup
  {
    command: 'backup',
    what: 'a source URL with a password',
    doors: ALL,
    field: 'source',
    cli: (c) => backup(c, '--source', `postgres://postgres:${SECRET}@127.0.0.1:${c.sourcePort}/shop`),
    input: (c) => backupOf(c, { source: `postgres://postgres:${SECRET}@127.0.0.1:${c.sourcePort}/shop` }),
  },
  {
    command: 'backup',
    what: 'a password_env naming a worker variable without the PGFERRY_PASSWORD_ prefix (refused on the worker)',
    doors: ALL,
    field: 'source',
    mentions: /AWS_SECRET_ACCESS_KEY/,
    atWorker: true,
    cli: (c) => backup(c, '--source', c.source('shop', 'password_env=AWS_SECRET_ACCESS_KEY')),
    input: (c) => backupOf(c, { source: c.source('shop', 'password_env=AWS_SECRET_ACCESS_KEY') }),
  },
  {
    command: 'backup',
    what: 'a backup name that climbs out of its location (../outside)',
    doors: ALL,
    field: 'name',
    cli: (c) => backup(c, '--name', '../outside'),
    input: (c) => backupOf(c, { name: '../outside' }),
  },
  {
    command: 'backup',
    what: 'a destination that is relative and climbs out (backups/../../outside)',
    doors: ['workflow'],
    field: 'to',
    input: (c) => backupOf(c, { to: 'backups/../../outside' }),
  },
  {
    command: 'backup',
    what: 'an absolute destination with a .. segment',
    doors: ['workflow'],
    field: 'to',
    input: (c) => backupOf(c, { to: `${c.backups}/../outside` }),
  },
  {
    command: 'backup',
    what: 'an empty destination',
    doors: ALL,
    field: 'to',
    cli: (c) => backup(c, '--to', ''),
    input: (c) => backupOf(c, { to: '' }),
  },
  {
    command: 'backup',
    what: 'a destination in a storage pgferry does not know (s3://bucket/prefix)',
    doors: ALL,
    field: 'to',
    mentions: /"s3:" is not supported/,
    cli: (c) => backup(c, '--to', 's3://bucket/prefix'),
    input: (c) => backupOf(c, { to: 's3://bucket/prefix' }),
  },
  {
    command: 'backup',
    what: 'an Azure Blob destination whose container name has capitals (azblob://Backups/prod)',
    doors: ALL,
    field: 'to',
    mentions: /container name/,
    cli: (c) => backup(c, '--to', 'azblob://Backups/prod'),
    input: (c) => backupOf(c, { to: 'azblob://Backups/prod' }),
  },
  {
    command: 'backup',
    what: 'an Azure Blob destination carrying a SAS token (azblob://backups/prod?sv=…&sig=…)',
    doors: ALL,
    field: 'to',
    mentions: /credentials/,
    cli: (c) => backup(c, '--to', `azblob://backups/prod?sv=2024-11-04&sig=${SECRET}`),
    input: (c) => backupOf(c, { to: `azblob://backups/prod?sv=2024-11-04&sig=${SECRET}` }),
  },
  {
    command: 'backup',
    what: 'jobs 65',
    doors: ALL,
    field: 'jobs',
    cli: (c) => backup(c, '--jobs', '65'),
    input: (c) => backupOf(c, { jobs: 65 }),
  },
  {
    command: 'backup',
    what: 'an unknown field (compress; --compress)',
    doors: ALL,
    field: 'compress',
    cli: (c) => backup(c, '--compress', '9'),
    input: (c) => backupOf(c, { compress: 9 }),
  },
  // restore
  {
    command: 'restore',
    what: 'a backup that does not exist',
    doors: ALL,
    code: ErrorCode.BackupNotFound,
    field: 'from',
    cli: (c) => restore(c),
    input: (c) => restoreOf(c),
  },
  {
    command: 'restore',
    what: 'a target URL that names no database',
    doors: ALL,
    field: 'target',
    cli: (c) => restore(c, '--target', `postgres://postgres@127.0.0.1:${c.targetPort}/`),
    input: (c) => restoreOf(c, { target: `postgres://postgres@127.0.0.1:${c.targetPort}/` }),
  },
  {
    command: 'restore',
    what: 'a backup path that is relative and climbs out (../backups/x)',
    doors: ['workflow'],
    field: 'from',
    input: (c) => restoreOf(c, { from: '../backups/x' }),
  },
  {
    command: 'restore',
    what: 'jobs as text ("two")',
    doors: ALL,
    field: 'jobs',
    cli: (c) => restore(c, '--jobs', 'two'),
    input: (c) => restoreOf(c, { jobs: 'two' }),
  },
  {
    command: 'restore',
    what: 'no backup to restore from',
    doors: ALL,
    field: 'from',
    cli: (c) => ['restore', '--target', c.target('restored')],
    input: (c) => restoreOf(c, { from: undefined }),
  },
  {
    command: 'restore',
    what: 'a backup in a storage pgferry does not know (gs://bucket/shop-1)',
    doors: ALL,
    field: 'from',
    mentions: /"gs:" is not supported/,
    cli: (c) => restore(c, '--from', 'gs://bucket/shop-1'),
    input: (c) => restoreOf(c, { from: 'gs://bucket/shop-1' }),
  },
  {
    command: 'restore',
    what: 'an Azure Blob container without the backup in it (azblob://backups)',
    doors: ALL,
    field: 'from',
    mentions: /no backup in it/,
    cli: (c) => restore(c, '--from', 'azblob://backups'),
    input: (c) => restoreOf(c, { from: 'azblob://backups' }),
  },
  // schedule
  {
    command: 'schedule',
    what: 'a cron expression with minute 61',
    doors: CLIENT_DOORS,
    field: 'cron',
    mentions: /minute "61" is out of range/,
    cli: (c) => schedule(c, '--cron', '61 * * * *'),
    input: (c) => scheduleOf(c, { cron: '61 * * * *' }),
  },
  {
    command: 'schedule',
    what: 'a cron expression of four fields',
    doors: CLIENT_DOORS,
    field: 'cron',
    cli: (c) => schedule(c, '--cron', '0 3 * *'),
    input: (c) => scheduleOf(c, { cron: '0 3 * *' }),
  },
  {
    command: 'schedule',
    what: 'keep 0',
    doors: ALL,
    field: 'keep',
    cli: (c) => schedule(c, '--keep', '0'),
    input: (c) => scheduleOf(c, { keep: 0 }),
  },
  {
    command: 'schedule',
    what: 'a destination in a storage pgferry does not know (s3://bucket/prefix)',
    doors: ALL,
    field: 'to',
    cli: (c) => schedule(c, '--to', 's3://bucket/prefix'),
    input: (c) => scheduleOf(c, { to: 's3://bucket/prefix' }),
  },
  {
    command: 'schedule',
    what: 'a schedule that does not exist (pause)',
    doors: CLIENT_DOORS,
    code: ErrorCode.WorkflowNotFound,
    field: 'name',
    cli: (c) => ['schedule', 'pause', c.name()],
    library: (c, client) => client.schedules.pause(c.name()),
  },
  // preflight
  {
    command: 'preflight',
    what: 'an unknown mode',
    doors: ALL,
    field: 'mode',
    cli: (c) => ['preflight', '--source', c.source(), '--target', c.target('shop_new'), '--mode', 'sideways'],
    input: (c) => ({ source: c.source(), target: c.target('shop_new'), mode: 'sideways' }),
  },
  {
    command: 'preflight',
    what: 'a source URL whose scheme is http',
    doors: ALL,
    field: 'source',
    cli: (c) => ['preflight', '--source', `http://127.0.0.1:${c.sourcePort}/shop`, '--target', c.target('x')],
    input: (c) => ({ source: `http://127.0.0.1:${c.sourcePort}/shop`, target: c.target('x') }),
  },
  {
    command: 'preflight',
    what: 'no target',
    doors: ALL,
    field: 'target',
    cli: (c) => ['preflight', '--source', c.source()],
    input: (c) => ({ source: c.source() }),
  },
  {
    command: 'preflight',
    what: 'an unknown field (jobs)',
    doors: ALL,
    field: 'jobs',
    cli: (c) => ['preflight', '--source', c.source(), '--target', c.target('x'), '--jobs', '4'],
    input: (c) => ({ source: c.source(), target: c.target('x'), jobs: 4 }),
  },
  // provision
  {
    command: 'provision',
    what: 'a cluster name that climbs out (../x)',
    doors: ALL,
    field: 'cluster',
    cli: () => ['provision', '--cluster', '../x', '--database', 'app'],
    input: () => cluster({ cluster: '../x' }),
  },
  {
    command: 'provision',
    what: 'a cluster name longer than 63 characters',
    doors: ALL,
    field: 'cluster',
    cli: () => ['provision', '--cluster', 'c'.repeat(64), '--database', 'app'],
    input: () => cluster({ cluster: 'c'.repeat(64) }),
  },
  {
    command: 'provision',
    what: 'a database name longer than 63 bytes (40 × é)',
    doors: ALL,
    field: 'database',
    mentions: /63 bytes/,
    cli: () => ['provision', '--cluster', 'bad-inputs', '--database', 'é'.repeat(40)],
    input: () => cluster({ database: 'é'.repeat(40) }),
  },
  {
    command: 'provision',
    what: 'a database name with a control character (a tab)',
    doors: ALL,
    field: 'database',
    cli: () => ['provision', '--cluster', 'bad-inputs', '--database', 'app\tx'],
    input: () => cluster({ database: 'app\tx' }),
  },
  {
    command: 'provision',
    what: 'a port below 1024',
    doors: ALL,
    field: 'port',
    cli: () => ['provision', '--cluster', 'bad-inputs', '--database', 'app', '--port', '80'],
    input: () => cluster({ port: 80 }),
  },
  {
    command: 'provision',
    what: 'a PostgreSQL version as text',
    doors: ALL,
    field: 'pgVersion',
    cliField: 'pg-version',
    cli: () => ['provision', '--cluster', 'bad-inputs', '--database', 'app', '--pg-version', 'fifteen'],
    input: () => cluster({ pgVersion: 'fifteen' }),
  },
  {
    command: 'provision',
    what: 'an unknown provider',
    doors: NOT_CLI,
    field: 'provider',
    input: (c) => ({ provider: 'azure', target: c.target('new_db') }),
  },
  {
    command: 'provision',
    what: 'both a target and a cluster',
    doors: ['cli'],
    field: 'target',
    cli: (c) => ['provision', '--target', c.target('new_db'), '--cluster', 'bad-inputs', '--database', 'app'],
  },
  {
    command: 'provision',
    what: 'a target URL with a password',
    doors: ALL,
    field: 'target',
    cli: (c) => ['provision', '--target', `postgres://postgres:${SECRET}@127.0.0.1:${c.targetPort}/new_db`],
    input: (c) => ({
      provider: 'local',
      target: `postgres://postgres:${SECRET}@127.0.0.1:${c.targetPort}/new_db`,
    }),
  },
  // decisions
  {
    command: 'approve',
    what: 'an approval by someone not in --approvers',
    doors: CLIENT_DOORS,
    code: ErrorCode.ApprovalRefused,
    field: 'by',
    mentions: /mallory is not one of the approvers \(alice\)/,
    cli: (c) => ['approve', c.gated, '--as', 'mallory'],
    library: (c, client) => client.approve(c.gated, { by: 'mallory' }),
  },
  {
    command: 'approve',
    what: 'an approval while the migration is not ready (still copying)',
    doors: CLIENT_DOORS,
    code: ErrorCode.ApprovalRefused,
    field: 'stage',
    mentions: /not ready for a decision yet/,
    cli: (c) => ['approve', c.busy, '--as', 'alice'],
    library: (c, client) => client.approve(c.busy, { by: 'alice' }),
  },
  {
    command: 'approve',
    what: 'an approval of a migration that does not exist',
    doors: CLIENT_DOORS,
    code: ErrorCode.WorkflowNotFound,
    field: 'id',
    cli: () => ['approve', 'no-such-migration', '--as', 'alice'],
    library: (_c, client) => client.approve('no-such-migration', { by: 'alice' }),
  },
  {
    command: 'approve',
    what: 'an approval that says nobody (no --as, an empty by)',
    doors: CLIENT_DOORS,
    field: 'by',
    cliField: 'as',
    cli: (c) => ['approve', c.gated],
    library: (c, client) => client.approve(c.gated, { by: '' }),
  },
  {
    command: 'approve',
    what: 'an approval whose name is a number',
    doors: ['library'],
    field: 'by',
    library: (c, client) => client.approve(c.gated, { by: 42 } as never),
  },
  {
    command: 'approve',
    what: 'a decision with an unknown field (comment)',
    doors: ['library'],
    field: 'comment',
    library: (c, client) => client.approve(c.gated, { by: 'alice', comment: 'ok' } as never),
  },
  {
    command: 'fallback',
    what: 'a fallback of a migration started without --fallback-window',
    doors: CLIENT_DOORS,
    code: ErrorCode.ApprovalRefused,
    field: 'fallbackWindow',
    mentions: /has no fallback window/,
    cli: (c) => ['fallback', c.gated, '--as', 'alice', '--reason', 'a plan regression'],
    library: (c, client) => client.fallback(c.gated, { by: 'alice', reason: 'a plan regression' }),
  },
  {
    command: 'fallback',
    what: 'a fallback without a reason',
    doors: CLIENT_DOORS,
    field: 'reason',
    cli: (c) => ['fallback', c.gated, '--as', 'alice'],
    library: (c, client) => client.fallback(c.gated, { by: 'alice', reason: ' ' }),
  },
  {
    command: 'fallback',
    what: 'a fallback that says nobody (no --as)',
    doors: CLIENT_DOORS,
    field: 'by',
    cliField: 'as',
    cli: (c) => ['fallback', c.gated, '--reason', 'a plan regression'],
    library: (c, client) => client.fallback(c.gated, { by: '', reason: 'a plan regression' }),
  },
  {
    command: 'release',
    what: 'a release of a migration started without --fallback-window',
    doors: CLIENT_DOORS,
    code: ErrorCode.ApprovalRefused,
    field: 'fallbackWindow',
    mentions: /has no fallback window/,
    cli: (c) => ['release', c.gated],
    library: (c, client) => client.release(c.gated),
  },
  {
    command: 'reject',
    what: 'a rejection without a reason',
    doors: CLIENT_DOORS,
    field: 'reason',
    cli: (c) => ['reject', c.gated, '--as', 'alice'],
    library: (c, client) => client.reject(c.gated, { by: 'alice' }),
  },
  {
    command: 'fleet',
    what: 'both --all and --databases',
    doors: ALL,
    field: 'all',
    cli: (c) => fleet(c, '--all', '--databases', 'shop'),
    input: (c) => fleetOf(c, { all: true, databases: ['shop'] }),
  },
  {
    command: 'fleet',
    what: 'a wave size of 0',
    doors: ALL,
    field: 'waveSize',
    cliField: 'wave-size',
    cli: (c) => fleet(c, '--all', '--wave-size', '0'),
    input: (c) => fleetOf(c, { all: true, waveSize: 0 }),
  },
  {
    command: 'fleet',
    what: 'a database the source server does not have',
    doors: ALL,
    field: 'databases',
    mentions: /"no_such_db"/,
    atWorker: true,
    cli: (c) => fleet(c, '--databases', 'shop,no_such_db', '--approve', 'auto'),
    input: (c) => fleetOf(c, { databases: ['shop', 'no_such_db'], approve: 'auto' }),
  },
  {
    command: 'fleet',
    what: 'the same server as source and target',
    doors: ALL,
    field: 'targetServer',
    cli: (c) => [
      'fleet',
      '--name',
      c.name(),
      '--source-server',
      c.source('postgres'),
      '--target-server',
      c.source('postgres'),
      '--all',
    ],
    input: (c) => fleetOf(c, { all: true, targetServer: c.source('postgres') }),
  },
  {
    command: 'fleet',
    what: 'role passwords with roles skip',
    doors: ALL,
    field: 'rolePasswords',
    cli: (c) => fleet(c, '--all', '--roles', 'skip', '--role-passwords'),
    input: (c) => fleetOf(c, { all: true, roles: 'skip', rolePasswords: true }),
  },
  {
    command: 'fleet',
    what: 'a plan file that cannot be read',
    doors: ['cli'],
    field: 'plan',
    cli: (c) => ['fleet', '--name', c.name(), '--plan', path.join(c.backups, 'no-such-plan.yaml')],
  },
];

const WORKFLOW_OF: Partial<Record<Command, WorkflowType>> = {
  migrate: WorkflowType.migration,
  backup: WorkflowType.backup,
  restore: WorkflowType.restore,
  preflight: WorkflowType.preflight,
  provision: WorkflowType.provision,
  schedule: WorkflowType.scheduledBackup,
  fleet: WorkflowType.fleet,
};

/** What a door answered: the fields of the error it printed or threw. */
interface Answer {
  code: string;
  message: string;
  field?: string | undefined;
  fix?: string | undefined;
}

/**
 * Runs at most `size` tasks at once: each CLI process is a whole Node start on a two-core machine,
 * and its answer is timed from its own start, not from a queue behind the others.
 */
function limiter(size: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const queue: (() => void)[] = [];
  return async (task) => {
    if (running >= size) await new Promise<void>((resolve) => queue.push(resolve));
    running++;
    try {
      return await task();
    } finally {
      running--;
      queue.shift()?.();
    }
  };
}

/** The error a promise rejects with; a promise that settles otherwise within the time is a failure. */
async function refusal(promise: Promise<unknown>, ms: number): Promise<Answer> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    const value = await Promise.race([promise, late]);
    throw new Error(`accepted, answered ${JSON.stringify(value)?.slice(0, 300)}`);
  } catch (err) {
    if (!(err instanceof PgferryError)) throw err;
    return { code: err.code, message: err.message, field: err.field, fix: err.fix };
  } finally {
    clearTimeout(timer);
  }
}

/** Starts what the library starts and waits for its end: a refused input fails before or at the start. */
async function ended<T>(started: Promise<WorkflowRun<T>>): Promise<T> {
  return (await started).result();
}

function throughLibrary(row: BadInput, c: Ctx, client: PgferryClient): Promise<unknown> {
  if (row.library) return row.library(c, client);
  const input = row.input?.(c) as never;
  switch (row.command) {
    case 'migrate':
      return ended(client.migrate(input));
    case 'backup':
      return ended(client.backup(input));
    case 'restore':
      return ended(client.restore(input));
    case 'provision':
      return ended(client.provision(input));
    case 'preflight':
      return client.preflight(input);
    case 'schedule':
      return client.schedules.create(input);
    case 'fleet':
      return ended(client.fleet(input));
    default:
      throw new Error(`${row.command} needs its own library call`);
  }
}

/** The code, the field (when the row names one), the fix, the words; never the password. */
function expectAnswer(expect: ExpectStatic, row: BadInput, door: Door, answer: Answer): void {
  expect(answer.code, JSON.stringify(answer)).toBe(row.code ?? ErrorCode.InvalidInput);
  const field = door === 'cli' ? (row.cliField ?? row.field) : row.field;
  if (field !== null) {
    expect(answer.field, JSON.stringify(answer)).toBe(field);
    expect(answer.fix).toEqual(expect.stringMatching(/\w/));
  }
  if (row.mentions) expect(answer.message).toMatch(row.mentions);
  expect(JSON.stringify(answer)).not.toContain(SECRET);
  expect(JSON.stringify(answer)).not.toContain(WORKER_SECRET);
}

function doorsOf(door: Door): BadInput[] {
  return CATALOG.filter((row) => row.doors.includes(door));
}

/** docs/bad-inputs.md, made from the catalog. */
function catalogMarkdown(): string {
  const mark = (row: BadInput, door: Door) => (row.doors.includes(door) ? '✓' : '');
  const lines = [
    '# Bad inputs pgferry refuses',
    '',
    'Generated from the catalog in `test/bad-inputs.test.ts` (`PGFERRY_WRITE_BAD_INPUTS=1 npx vitest run',
    'test/bad-inputs.test.ts` rewrites it); the test fails when this page and the catalog differ.',
    '',
    'Every input below is refused through each door marked, within seconds, before anything is',
    'changed: the test compares the catalogs of both servers (databases, roles, replication slots,',
    'publications, subscriptions, database and role settings, server settings) before and after.',
    'The test allows each answer 20 s where the client or the workflow input catches it, and 45 s where',
    'the worker decides (a first activity, a missing backup, the approval gate), on a loaded two-core',
    'machine; unloaded, an answer takes a few seconds at most.',
    '',
    '- **CLI**: `pgferry …` exits 2 and prints `error [CODE] field: message. Fix: …` on stderr, or with',
    '  `--json` `{ "ok": false, "error": { "code", "message", "field", "fix" } }` on stdout.',
    '- **library**: the `PgferryClient` method throws a `PgferryError` with `code`, `field` and `fix`.',
    '- **workflow**: the workflow started bare (`temporal workflow start`, the raw JSON input, no client',
    '  checks) fails at once, not retried, with the code as its failure type and `{ field, fix }` as',
    '  its details. An InvalidInput one schedules no activity, except the inputs only the worker can',
    '  judge (marked "refused on the worker"), which its first activity refuses before it connects.',
    '',
    "Fields are the input's (`splitLargerThan`); where the CLI names its flag instead, it is shown",
    "after a slash (`splitLargerThan` / `split-larger-than`). The approval gate's refusals",
    '(ApprovalRefused) name `by`, `reason`, `stage`, `readiness` or `decision`, and say who may approve or what the migration waits for.',
    '',
    '| command | bad input | code | field | CLI | library | workflow |',
    '| --- | --- | --- | --- | :-: | :-: | :-: |',
    ...CATALOG.map((row) => {
      const field =
        row.field === null
          ? '—'
          : row.cliField && row.doors.includes('cli') && row.cliField !== row.field
            ? row.doors.length === 1
              ? `\`${row.cliField}\``
              : `\`${row.field}\` / \`${row.cliField}\``
            : `\`${row.field}\``;
      return `| ${row.command} | ${row.what} | ${row.code ?? ErrorCode.InvalidInput} | ${field} | ${mark(row, 'cli')} | ${mark(row, 'library')} | ${mark(row, 'workflow')} |`;
    }),
    '',
    `${CATALOG.length} bad inputs; ${doorsOf('cli').length} through the CLI, ${doorsOf('library').length} through the library, ${doorsOf('workflow').length} through a bare workflow start.`,
    '',
  ];
  return lines.join('\n');
}

describe('the bad-input catalog: refused within seconds through the CLI, the library and a bare workflow start, changing nothing', () => {
  let source: ThrowawayCluster;
  let target: ThrowawayCluster;
  let backups: string;
  let lock: HeldLock | undefined;
  let temporal: TestWorkflowEnvironment | undefined;
  let before: { source: ServerCatalog; target: ServerCatalog };
  const run = randomBytes(3).toString('hex');
  let names = 0;
  const url =
    (cluster: () => ThrowawayCluster) =>
    (db = 'shop', params = `password_env=${PASSWORD_ENV}`) =>
      `postgres://postgres@127.0.0.1:${cluster().port}/${encodeURIComponent(db)}${params ? `?${params}` : ''}`;
  const ctx: Ctx = {
    source: url(() => source),
    target: url(() => target),
    get sourcePort() {
      return source.port;
    },
    get targetPort() {
      return target.port;
    },
    get backups() {
      return backups;
    },
    gated: `bad-gated-${run}`,
    busy: `bad-busy-${run}`,
    name: () => `bad-${run}-${++names}`,
  };
  const catalogs = async () => ({
    source: await serverCatalog((db) => source.url(db)),
    target: await serverCatalog((db) => target.url(db)),
  });

  beforeAll(async () => {
    [source, target] = await Promise.all([startThrowawayCluster(), startThrowawayCluster()]);
    for (const db of ['shop', 'depot']) {
      await query(source.url(), `CREATE DATABASE ${db}`);
      await query(source.url(db), SCHEMA);
    }
    backups = await mkdtemp(path.join(tmpdir(), 'pgferry-bad-inputs-'));
  });

  afterAll(async () => {
    await source?.stop();
    await target?.stop();
    if (backups) await rm(backups, { recursive: true, force: true });
  });

  // After the clusters' hooks: the worker starts once they exist and stops before they go.
  const suite = useTemporalSuite({
    env: () =>
      testEnv({ [PASSWORD_ENV]: 'unused: the clusters trust', AWS_SECRET_ACCESS_KEY: WORKER_SECRET }),
  });

  beforeAll(async () => {
    // The busy migration waits on a lock held on its source table, before any decision can be taken.
    lock = await holdTableLock(source.url('depot'), 'public.items');
    await suite.client.migrate({
      name: ctx.busy,
      source: ctx.source('depot'),
      target: ctx.target('depot_copy'),
      freezeSource: false,
    });
    const gated = await suite.client.migrate({
      name: ctx.gated,
      source: ctx.source('shop'),
      target: ctx.target('shop_copy'),
      freezeSource: false,
      validate: 'counts',
      approvers: ['alice'],
      startedBy: 'carol',
    });
    await waitForStatus(suite.client, gated.workflowId, 'the approval gate', (s) => s.state === 'waiting');
    await waitFor('the busy migration to wait on the locked table', async () => {
      const waiting = await query(
        source.url(),
        "SELECT 1 FROM pg_stat_activity WHERE datname = 'depot' AND wait_event_type = 'Lock'",
      );
      return waiting.length > 0 ? true : undefined;
    });
    temporal = await plainTemporal();
    before = await catalogs();
  });

  afterAll(async () => {
    if (temporal) {
      for (const name of [ctx.gated, ctx.busy]) {
        await temporal.client.workflow
          .getHandle(`migration-${name}`)
          .terminate('bad-inputs test: done')
          .catch(() => undefined);
      }
      await temporal.teardown();
    }
    await lock?.release();
  });

  describe.concurrent('through the CLI: exit 2, the code, the field and the fix, in text and as JSON', () => {
    const slot = limiter(3);
    const timed = (args: string[]) =>
      slot(async () => {
        const started = Date.now();
        const result = await runPgferry(args, suite.env);
        return { ...result, ms: Date.now() - started };
      });

    it.for(doorsOf('cli'))('$command: $what', async (row, { expect }) => {
      const args = row.cli!(ctx);
      const [json, text] = await Promise.all([timed([...args, '--json']), timed(args)]);
      expect(Math.max(json.ms, text.ms)).toBeLessThan(budget(row));
      expect(json.code, json.stdout + json.stderr).toBe(2);
      const body = JSON.parse(json.stdout) as { ok: boolean; error: Answer };
      expect(body.ok).toBe(false);
      expectAnswer(expect, row, 'cli', body.error);
      expect(text.code, text.stderr).toBe(2);
      const code = row.code ?? ErrorCode.InvalidInput;
      expect(text.stderr).toContain(`error [${code}] `);
      const field = row.cliField ?? row.field;
      if (field !== null) {
        expect(text.stderr).toContain(`${field}: `);
        expect(text.stderr).toContain(' Fix: ');
      }
      expect(text.stdout + text.stderr + json.stdout).not.toContain(SECRET);
    });
  });

  describe.concurrent('through the library: a PgferryError with the code, the field and the fix', () => {
    it.for(doorsOf('library'))('$command: $what', async (row, { expect }) => {
      const started = Date.now();
      const answer = await refusal(throughLibrary(row, ctx, suite.client), budget(row));
      expect(Date.now() - started).toBeLessThan(budget(row));
      expectAnswer(expect, row, 'library', answer);
    });
  });

  describe.concurrent('through a bare workflow start: the workflow fails at once, naming the field', () => {
    it.for(doorsOf('workflow'))('$command: $what', async (row, { expect }) => {
      const type = WORKFLOW_OF[row.command]!;
      const input = row.input!(ctx);
      // Never migration-NAME of a name the other doors use: their start would attach to this one.
      const workflowId = `${type}-bare-${run}-${CATALOG.indexOf(row)}`;
      const started = Date.now();
      // A plain client, as `temporal workflow start --input` would: plain JSON, no pgferry checks.
      await temporal!.client.workflow.start(type, {
        taskQueue: CONTROL_TASK_QUEUE,
        workflowId,
        args: input === NO_INPUT ? [] : [input],
      });
      // The failure's details are encrypted by the worker's codec: read them as a pgferry client does.
      const answer = await refusal(suite.client.attach(workflowId).result(), budget(row));
      expect(Date.now() - started).toBeLessThan(budget(row));
      expectAnswer(expect, row, 'workflow', answer);
      if ((row.code ?? ErrorCode.InvalidInput) === ErrorCode.InvalidInput && !row.atWorker) {
        const { events } = await temporal!.client.workflow.getHandle(workflowId).fetchHistory();
        const acted = (events ?? []).filter(
          (e) =>
            e.activityTaskScheduledEventAttributes || e.startChildWorkflowExecutionInitiatedEventAttributes,
        );
        expect(acted).toEqual([]);
      }
    });
  });

  it('leaves both servers as they were: databases, roles, slots, publications, subscriptions and settings', async () => {
    expect(await catalogs()).toEqual(before);
    // The standing migrations are where they were: the refused decisions changed neither.
    expect((await suite.client.status(ctx.gated)).state).toBe('waiting');
    expect((await suite.client.status(ctx.busy)).stage).not.toBe('approval');
  });

  it('has at least thirty rows, and docs/bad-inputs.md lists them', async () => {
    expect(CATALOG.length).toBeGreaterThanOrEqual(30);
    // As `npx prettier --write` leaves it, so that the format check of `npm test` passes it too.
    const markdown = await format(catalogMarkdown(), {
      ...(await resolveConfig(DOCS)),
      filepath: DOCS,
    });
    if (process.env.PGFERRY_WRITE_BAD_INPUTS === '1') await writeFile(DOCS, markdown);
    expect(await readFile(DOCS, 'utf8')).toBe(markdown);
  });
});
