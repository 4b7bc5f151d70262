import { chmod, copyFile, mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type Activities } from '../activities';
import { appliesTo, CHECK_IDS, summarize, type CheckId } from '../domain/checks';
import type { CheckResult, PreflightReport } from '../domain/migration';
import { runActivity, testActivityDeps } from './helpers/activity-env';
import { runPgferry } from './helpers/processes';
import { useTemporalSuite } from './helpers/suite';
import { databaseFingerprint } from './helpers/fingerprint';
import {
  adminUrl,
  cloneDatabase,
  createEmptyDatabase,
  createTemplateDatabase,
  DEFAULT_PG_BIN_DIR,
  dropDatabase,
  freePort,
  query,
  quoteIdent,
  startThrowawayCluster,
  uniqueName,
  type ThrowawayCluster,
} from './helpers/pg';

const FIXTURE = path.join(__dirname, 'fixtures', 'complex.sql');

// The Debian layout the server binaries find their share and lib directories by, relative to themselves.
const PG_SHARE_DIR = '/usr/share/postgresql/15';
const PG_LIB_DIR = '/usr/lib/postgresql/15/lib';
/** The extension and the collation the "bare" target server lacks. */
const MISSING_EXTENSION = 'hstore';
const MISSING_COLLATION = 'fr-x-icu';

/** Checks that need the target server: none of them may pass when it cannot be reached. */
const TARGET_CHECKS: readonly CheckId[] = [
  'source.same-as-target',
  'version.target-major',
  'extensions.available',
  'target.database',
  'encoding.match',
  'collations.available',
  'target.password-logs',
  'roles.present',
  'target.privileges',
];

const activities = createActivities(testActivityDeps());

type PreflightInput = Parameters<Activities['runPreflight']>[0];

/** Runs runPreflight the way a worker would: inside an activity Context. */
function preflight(input: PreflightInput): Promise<PreflightReport> {
  return runActivity(activities.runPreflight, input);
}

/** The report's result of one check; fails the test when the check is not in the report. */
function check(report: PreflightReport, id: CheckId): CheckResult {
  const found = report.checks.find((c) => c.id === id);
  if (!found)
    throw new Error(`check ${id} is not in the report: ${report.checks.map((c) => c.id).join(', ')}`);
  return found;
}

/** The ids of the failed checks of a severity. */
function failed(report: PreflightReport, severity: 'error' | 'warning'): string[] {
  return report.checks.filter((c) => !c.ok && c.severity === severity).map((c) => c.id);
}

/**
 * A copy of the PostgreSQL 15 server binaries whose share directory lacks one extension's files.
 * The binaries find share/ and lib/ relative to where they are (when they sit in the same
 * lib/postgresql/15/bin layout), so a cluster started from this copy is a real server on which
 * that extension is not installed — the state of a target host without the contrib package.
 */
async function binDirWithoutExtension(root: string, extension: string): Promise<string> {
  const bin = path.join(root, 'lib', 'postgresql', '15', 'bin');
  const share = path.join(root, 'share', 'postgresql', '15');
  await mkdir(bin, { recursive: true });
  await mkdir(path.join(share, 'extension'), { recursive: true });
  // Copied, not linked: the server resolves symlinks to find its own location.
  for (const program of ['postgres', 'initdb', 'pg_ctl']) {
    await copyFile(path.join(DEFAULT_PG_BIN_DIR, program), path.join(bin, program));
    await chmod(path.join(bin, program), 0o755);
  }
  await symlink(PG_LIB_DIR, path.join(root, 'lib', 'postgresql', '15', 'lib'));
  for (const entry of await readdir(PG_SHARE_DIR)) {
    if (entry !== 'extension') await symlink(path.join(PG_SHARE_DIR, entry), path.join(share, entry));
  }
  for (const entry of await readdir(path.join(PG_SHARE_DIR, 'extension'))) {
    if (!entry.startsWith(`${extension}--`) && entry !== `${extension}.control`) {
      await symlink(path.join(PG_SHARE_DIR, 'extension', entry), path.join(share, 'extension', entry));
    }
  }
  // The cluster runs as the postgres OS user, which must reach the copy.
  const dirs = [root, bin, share, path.join(share, 'extension')];
  for (const leaf of [bin, share]) {
    for (let dir = path.dirname(leaf); dir !== root; dir = path.dirname(dir)) dirs.push(dir);
  }
  for (const dir of dirs) await chmod(dir, 0o755);
  return bin;
}

/** The cluster-wide state preflight must leave alone, as one comparable value. */
async function clusterState(url: string): Promise<unknown> {
  const [row] = await query<{ state: unknown }>(
    url,
    `SELECT jsonb_build_object(
       'databases', (SELECT jsonb_agg(jsonb_build_array(datname, shobj_description(oid, 'pg_database'),
                                                        datallowconn, datconnlimit) ORDER BY datname)
                       FROM pg_database),
       'roles', (SELECT jsonb_agg(jsonb_build_array(rolname, rolsuper, rolreplication, rolcanlogin) ORDER BY rolname)
                   FROM pg_roles),
       'slots', (SELECT coalesce(jsonb_agg(slot_name ORDER BY slot_name), '[]') FROM pg_replication_slots),
       'prepared', (SELECT count(*) FROM pg_prepared_xacts),
       'settings', (SELECT jsonb_agg(jsonb_build_array(name, setting) ORDER BY name) FROM pg_settings
                     WHERE source NOT IN ('default', 'session', 'client', 'override'))) AS state`,
  );
  return row?.state;
}

/** What one database holds that preflight must not change, beyond the data fingerprint. */
async function databaseState(url: string): Promise<unknown> {
  return {
    fingerprint: await databaseFingerprint(url),
    publications: await query(url, 'SELECT pubname FROM pg_publication ORDER BY 1'),
    subscriptions: await query(url, 'SELECT count(*)::int AS n FROM pg_subscription'),
  };
}

describe('runPreflight against real PostgreSQL servers', () => {
  const template = uniqueName('pgferry_pre_tpl');
  const databases: string[] = [];
  let root: string;
  /** wal_level=logical, without hstore's files, without the fr ICU collation. */
  let bare: ThrowawayCluster;
  /** The fixture on the bare cluster (a logical source). */
  let logicalSource: string;

  /** A name for a database on the shared server that is dropped in afterAll (whether it gets made or not). */
  function newName(label: string): string {
    const name = uniqueName(`pgferry_pre_${label}`);
    databases.push(name);
    return name;
  }

  // The CLI's preflight runs as a workflow: a worker for it.
  const suite = useTemporalSuite();

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'pgferry-preflight-'));
    await chmod(root, 0o755);
    const [binDir] = await Promise.all([
      binDirWithoutExtension(path.join(root, 'pg'), MISSING_EXTENSION),
      createTemplateDatabase(template, FIXTURE),
    ]);
    bare = await startThrowawayCluster({ walLevel: 'logical', binDir });
    // A target whose ICU lacks a locale: the collation is gone from every database a new one is made from.
    for (const db of ['postgres', 'template1']) {
      await query(bare.url(db), `DROP COLLATION pg_catalog.${quoteIdent(MISSING_COLLATION)}`);
    }
    logicalSource = await createTemplateDatabase('fixture', FIXTURE, bare.port);
  }, 60_000);

  afterAll(async () => {
    await bare?.stop();
    for (const db of databases) await dropDatabase(db).catch(() => undefined);
    await dropDatabase(template);
    if (root) await rm(root, { recursive: true, force: true });
  }, 60_000);

  it('passes a clean offline pair and creates nothing', async () => {
    const source = await cloneDatabase(template, newName('clean_src'));
    const targetName = newName('clean_tgt');
    const report = await preflight({ source, target: adminUrl(5432, targetName), mode: 'offline' });

    expect(failed(report, 'error')).toEqual([]);
    expect(report.ok).toBe(true);
    expect(summarize(report.checks)).toMatchObject({ ok: true, errors: 0 });
    expect(report.mode).toBe('offline');
    // Every offline check ran, and no online-only one.
    expect(report.checks.map((c) => c.id).sort()).toEqual(
      CHECK_IDS.filter((id) => appliesTo(id, 'offline')).sort(),
    );
    expect(report.source).toMatchObject({ reachable: true, major: 15, databaseExists: true });
    expect(report.target).toMatchObject({ reachable: true, major: 15, databaseExists: false });
    expect(check(report, 'target.database').ok).toBe(true);
    expect(check(report, 'connect.target').fix).toBeUndefined();
    const [exists] = await query<{ n: number }>(
      adminUrl(),
      'SELECT count(*)::int AS n FROM pg_database WHERE datname = $1',
      [targetName],
    );
    expect(exists?.n).toBe(0);
  });

  it('fails wal-level.logical online when the source runs wal_level=replica', async () => {
    // The shared server is the replica-level source; say so, so that this test cannot pass vacuously.
    const [setting] = await query<{ wal_level: string }>(adminUrl(), 'SHOW wal_level');
    expect(setting?.wal_level).toBe('replica');
    const source = await cloneDatabase(template, newName('replica_src'));
    const report = await preflight({ source, target: bare.url(uniqueName('absent')), mode: 'online' });

    expect(check(report, 'wal-level.logical')).toMatchObject({ ok: false, severity: 'error' });
    expect(check(report, 'wal-level.logical').fix).toBeTruthy();
    expect(report.ok).toBe(false);
    // What logical replication would not carry is named too.
    expect(check(report, 'tables.unlogged')).toMatchObject({ ok: false, severity: 'warning' });
    expect(check(report, 'tables.unlogged').items).toEqual(['inventory.cache']);
    expect(check(report, 'large-objects')).toMatchObject({ ok: false, severity: 'warning' });
  });

  it('passes wal-level.logical online on a logical source and names the tables without primary key', async () => {
    const report = await preflight({
      source: logicalSource,
      target: adminUrl(5432, newName('online_tgt')),
      mode: 'online',
    });

    for (const id of [
      'wal-level.logical',
      'replication.slots-free',
      'replication.senders-free',
      'replication.rights',
    ] as const) {
      expect(check(report, id)).toMatchObject({ ok: true, severity: 'error' });
    }
    const identity = check(report, 'tables.replica-identity');
    expect(identity).toMatchObject({ ok: false, severity: 'error' });
    expect(identity.items).toContain('public.raw_log');
    // The hash partitions of inventory.stock have no key either; tables with one are not named.
    expect(identity.items).toEqual(['inventory.stock_p0', 'inventory.stock_p1', 'public.raw_log']);
    expect(failed(report, 'error')).toEqual(['tables.replica-identity']);
  });

  it('fails source.writable online on a read-only source database, and names a retired one by its fence', async () => {
    const db = uniqueName('readonly_src');
    await query(bare.url(), `CREATE DATABASE ${quoteIdent(db)} TEMPLATE fixture`);
    const target = adminUrl(5432, newName('readonly_tgt'));
    try {
      const writable = await preflight({ source: bare.url(db), target, mode: 'online' });
      expect(check(writable, 'source.writable')).toMatchObject({ ok: true, severity: 'error' });

      await query(bare.url(), `ALTER DATABASE ${quoteIdent(db)} SET default_transaction_read_only = on`);
      const readOnly = await preflight({ source: bare.url(db), target, mode: 'online' });
      expect(check(readOnly, 'source.writable')).toMatchObject({ ok: false, severity: 'error' });
      expect(check(readOnly, 'source.writable').message).toContain('default_transaction_read_only = on');
      expect(check(readOnly, 'source.writable').fix).toContain("migrate from the database's primary");
      expect(failed(readOnly, 'error')).toContain('source.writable');
      // Offline, a read-only source is only read: no such check.
      const offline = await preflight({ source: bare.url(db), target, mode: 'offline' });
      expect(offline.checks.map((c) => c.id)).not.toContain('source.writable');

      // As the fence of a migration that retired the database leaves it.
      await query(
        bare.url(),
        `ALTER DATABASE ${quoteIdent(db)} SET pgferry.saved_default_transaction_read_only = 'pgferry_fence_0123456789abcdef/unset'`,
      );
      const retired = await preflight({ source: bare.url(db), target, mode: 'online' });
      expect(check(retired, 'source.writable').message).toContain('a pgferry write fence');
    } finally {
      await query(bare.url(), `DROP DATABASE IF EXISTS ${quoteIdent(db)}`);
    }
  });

  it('fails replication.rights for a plain user and replication.slots-free when every slot is taken', async () => {
    const plain = uniqueName('plain_user');
    const replicator = uniqueName('replicator');
    await query(bare.url(), `CREATE ROLE ${quoteIdent(plain)} LOGIN`);
    await query(bare.url(), `CREATE ROLE ${quoteIdent(replicator)} LOGIN REPLICATION`);
    const as = (user: string) => logicalSource.replace('postgres@', `${user}@`);
    const target = adminUrl(5432, newName('rights_tgt'));

    const plainReport = await preflight({ source: as(plain), target, mode: 'online' });
    expect(check(plainReport, 'connect.source').ok).toBe(true);
    expect(check(plainReport, 'replication.rights')).toMatchObject({ ok: false, severity: 'error' });
    const replicatorReport = await preflight({ source: as(replicator), target, mode: 'online' });
    expect(check(replicatorReport, 'replication.rights').ok).toBe(true);

    const [{ max } = { max: 0 }] = await query<{ max: number }>(
      bare.url(),
      `SELECT current_setting('max_replication_slots')::int AS max`,
    );
    const slots = Array.from({ length: max }, (_, i) => `pgferry_test_slot_${i}`);
    for (const slot of slots)
      await query(bare.url(), 'SELECT pg_create_physical_replication_slot($1)', [slot]);
    try {
      const full = await preflight({ source: logicalSource, target, mode: 'online' });
      expect(check(full, 'replication.slots-free')).toMatchObject({ ok: false, severity: 'error' });
    } finally {
      for (const slot of slots) await query(bare.url(), 'SELECT pg_drop_replication_slot($1)', [slot]);
    }
  });

  it('refuses a non-empty target database that pgferry did not make, and accepts an empty or marked one', async () => {
    const source = await cloneDatabase(template, newName('tdb_src'));
    const foreign = await cloneDatabase(template, newName('tdb_foreign'));
    const foreignReport = await preflight({ source, target: foreign, mode: 'offline' });
    expect(check(foreignReport, 'target.database')).toMatchObject({ ok: false, severity: 'error' });
    expect(foreignReport.ok).toBe(false);
    expect(foreignReport.target.databaseExists).toBe(true);

    const empty = await createEmptyDatabase(newName('tdb_empty'));
    expect(check(await preflight({ source, target: empty, mode: 'offline' }), 'target.database').ok).toBe(
      true,
    );

    const ours = newName('tdb_ours');
    const oursUrl = await cloneDatabase(template, ours);
    await query(adminUrl(), `COMMENT ON DATABASE ${quoteIdent(ours)} IS 'pgferry:migration-resume'`);
    expect(check(await preflight({ source, target: oursUrl, mode: 'offline' }), 'target.database').ok).toBe(
      true,
    );
  });

  it('reports an unreachable target as a failed connect.target and passes no check that needs it', async () => {
    const source = await cloneDatabase(template, newName('unreach_src'));
    const report = await preflight({ source, target: adminUrl(await freePort(), 'nowhere'), mode: 'online' });

    expect(check(report, 'connect.target')).toMatchObject({ ok: false, severity: 'error' });
    expect(check(report, 'connect.target').fix).toBeTruthy();
    expect(check(report, 'connect.source').ok).toBe(true);
    expect(report.ok).toBe(false);
    expect(report.target).toEqual({ reachable: false });
    const ids = report.checks.map((c) => c.id);
    for (const id of TARGET_CHECKS) expect(ids).not.toContain(id);
    // The checks of the source alone still ran.
    expect(ids).toContain('wal-level.logical');
  });

  it('reports an unreachable source the same way', async () => {
    const report = await preflight({
      source: adminUrl(await freePort(), 'nowhere'),
      target: bare.url('absent'),
      mode: 'online',
    });
    expect(check(report, 'connect.source')).toMatchObject({ ok: false, severity: 'error' });
    expect(check(report, 'connect.target').ok).toBe(true);
    expect(report.source).toEqual({ reachable: false });
    const ids = report.checks.map((c) => c.id);
    for (const id of [
      'wal-level.logical',
      'roles.present',
      'version.target-major',
      'transactions.prepared',
    ]) {
      expect(ids).not.toContain(id);
    }
  });

  it('fails source.same-as-target for the same database, also under another host name', async () => {
    const source = await cloneDatabase(template, newName('same'));
    const report = await preflight({ source, target: source, mode: 'offline' });
    expect(check(report, 'source.same-as-target')).toMatchObject({ ok: false, severity: 'error' });
    expect(report.ok).toBe(false);

    // 127.1 is 127.0.0.1 to the resolver but not to a URL comparison: the server identity tells.
    const aliased = source.replace('@127.0.0.1:', '@127.1:');
    expect(aliased).not.toBe(source);
    const viaAlias = await preflight({ source, target: aliased, mode: 'offline' });
    expect(check(viaAlias, 'source.same-as-target').ok).toBe(false);

    // Another database of the same server is a different database.
    const other = await preflight({ source, target: adminUrl(5432, newName('same_other')), mode: 'offline' });
    expect(check(other, 'source.same-as-target').ok).toBe(true);
  });

  it('names the roles the source database uses that the target server lacks', async () => {
    const owner = uniqueName('app_owner');
    const reader = uniqueName('app_reader');
    const auditor = uniqueName('app_auditor');
    for (const role of [owner, reader, auditor]) await query(bare.url(), `CREATE ROLE ${quoteIdent(role)}`);
    await query(bare.url(), 'CREATE DATABASE roles_src');
    const source = bare.url('roles_src');
    await query(source, `CREATE TABLE public.accounts (id integer PRIMARY KEY, holder text)`);
    await query(source, `ALTER TABLE public.accounts OWNER TO ${quoteIdent(owner)}`);
    await query(source, `GRANT SELECT ON public.accounts TO ${quoteIdent(reader)}`);
    await query(
      source,
      `CREATE POLICY audit_all ON public.accounts FOR SELECT TO ${quoteIdent(auditor)} USING (true)`,
    );

    const report = await preflight({ source, target: adminUrl(5432, newName('roles_tgt')), mode: 'offline' });
    const roles = check(report, 'roles.present');
    expect(roles).toMatchObject({ ok: false, severity: 'error' });
    expect(roles.items).toEqual([auditor, owner, reader].sort());
    expect(roles.fix).toBeTruthy();
    expect(failed(report, 'error')).toEqual(['roles.present']);

    // `pgferry preflight` (its workflow) as the migration would run: with --roles copy the roles are
    // copied first, so their absence is no error; without it, the same error as above (exit 1).
    const cli = (...more: string[]) =>
      runPgferry(
        [
          'preflight',
          '--source',
          source,
          '--target',
          adminUrl(5432, newName('roles_cli')),
          ...more,
          '--json',
        ],
        suite.env,
      );
    const asCopy = await cli('--roles', 'copy');
    expect(asCopy.code, asCopy.stderr).toBe(0);
    const copying = JSON.parse(asCopy.stdout) as PreflightReport;
    expect(check(copying, 'roles.present').ok).toBe(true);
    expect(failed(copying, 'error')).toEqual([]);
    const asSkip = await cli();
    expect(asSkip.code).toBe(1);
    expect(failed(JSON.parse(asSkip.stdout) as PreflightReport, 'error')).toEqual(['roles.present']);
  });

  it('names the extensions and collations the source uses that the target server lacks', async () => {
    // Preconditions of the honest setup: the shared server has both, the bare one neither.
    const available = `SELECT count(*)::int AS n FROM pg_available_extensions WHERE name = $1`;
    expect((await query<{ n: number }>(adminUrl(), available, [MISSING_EXTENSION]))[0]?.n).toBe(1);
    expect((await query<{ n: number }>(bare.url(), available, [MISSING_EXTENSION]))[0]?.n).toBe(0);

    const source = await createEmptyDatabase(newName('ext_src'));
    await query(source, `CREATE EXTENSION ${quoteIdent(MISSING_EXTENSION)}`);
    await query(
      source,
      `CREATE TABLE public.people (id integer PRIMARY KEY, name text COLLATE ${quoteIdent(MISSING_COLLATION)},
                                   attrs ${MISSING_EXTENSION}, code text COLLATE "C")`,
    );
    const report = await preflight({ source, target: bare.url('ext_tgt'), mode: 'offline' });
    expect(check(report, 'extensions.available')).toMatchObject({ ok: false, items: [MISSING_EXTENSION] });
    expect(check(report, 'collations.available')).toMatchObject({
      ok: false,
      items: [`pg_catalog.${quoteIdent(MISSING_COLLATION)}`],
    });

    // The same source against the shared server, which has both: they pass.
    const back = await preflight({ source, target: adminUrl(5432, newName('ext_tgt_ok')), mode: 'offline' });
    expect(check(back, 'extensions.available').ok).toBe(true);
    expect(check(back, 'collations.available').ok).toBe(true);
  });

  it('changes nothing on either server', async () => {
    const source = await cloneDatabase(template, newName('nochange_src'));
    await query(bare.url(), 'CREATE DATABASE nochange_tgt');
    const target = bare.url('nochange_tgt');
    await query(target, 'CREATE TABLE public.leftover (id integer)');

    const before = {
      source: await databaseState(source),
      target: await databaseState(target),
      targetCluster: await clusterState(bare.url()),
    };
    for (const mode of ['offline', 'online'] as const) {
      const report = await preflight({ source, target, mode });
      expect(report.checks.length).toBeGreaterThan(10);
      // An absent target database stays absent.
      await preflight({ source, target: bare.url('nochange_absent'), mode });
    }
    const after = {
      source: await databaseState(source),
      target: await databaseState(target),
      targetCluster: await clusterState(bare.url()),
    };
    expect(after).toEqual(before);
  });
});

describe("preflight's warning when the subscription's password would stay in the target's logs or statistics", () => {
  /** A target with pg_stat_statements preloaded and every statement's duration logged. */
  let logged: ThrowawayCluster;
  const plainUser = 'app_target';
  const grantedUser = 'granted_target';

  beforeAll(async () => {
    logged = await startThrowawayCluster({
      settings: ["shared_preload_libraries = 'pg_stat_statements'", 'log_min_duration_statement = 0'],
    });
    await query(logged.url(), `CREATE ROLE ${plainUser} LOGIN`);
    await query(logged.url(), `CREATE ROLE ${grantedUser} LOGIN`);
    // What the subscribing session sets, granted to one non-superuser (PostgreSQL 15+).
    await query(
      logged.url(),
      `GRANT SET ON PARAMETER log_statement, log_min_error_statement, log_min_duration_statement,
         log_min_duration_sample, log_transaction_sample_rate, pg_stat_statements.track_utility TO ${grantedUser}`,
    );
  }, 60_000);

  afterAll(async () => {
    await logged?.stop();
  });

  const asUser = (cluster: ThrowawayCluster, user: string, db: string) =>
    cluster.url(db).replace('postgres@', `${user}@`);

  it('names pg_stat_statements and the log settings a non-superuser target cannot turn off, and not for a superuser', async () => {
    const source = logged.url();
    const plain = await preflight({ source, target: asUser(logged, plainUser, 'pw_tgt'), mode: 'online' });
    const warning = check(plain, 'target.password-logs');
    expect(warning).toMatchObject({ ok: false, severity: 'warning' });
    expect(warning.items).toEqual([
      'pg_stat_statements',
      'log_min_duration_statement',
      'log_min_error_statement',
    ]);
    expect(warning.message).toContain(`"${plainUser}"`);
    expect(warning.message).toContain('pg_stat_statements (loaded, track_utility = on)');
    expect(warning.message).toContain('log_min_duration_statement = 0');
    for (const word of ['superuser', 'GRANT SET ON PARAMETER', 'pg_stat_statements_reset', 'auto_explain'])
      expect(warning.fix).toContain(word);

    // A superuser, and a user granted SET on those parameters, turn them off for the session.
    const superuser = await preflight({ source, target: logged.url('pw_tgt'), mode: 'online' });
    expect(check(superuser, 'target.password-logs')).toMatchObject({ ok: true, severity: 'warning' });
    expect(failed(superuser, 'warning')).not.toContain('target.password-logs');
    const granted = await preflight({
      source,
      target: asUser(logged, grantedUser, 'pw_tgt'),
      mode: 'online',
    });
    expect(check(granted, 'target.password-logs').ok).toBe(true);

    // An offline migration makes no subscription: no such check.
    const offline = await preflight({ source, target: asUser(logged, plainUser, 'pw_tgt'), mode: 'offline' });
    expect(offline.checks.map((c) => c.id)).not.toContain('target.password-logs');
  });

  it('leaves pg_stat_statements out where it is not loaded, and still names the error statement log', async () => {
    const plain = await startThrowawayCluster();
    try {
      await query(plain.url(), `CREATE ROLE ${plainUser} LOGIN`);
      const report = await preflight({
        source: plain.url(),
        target: asUser(plain, plainUser, 'pw_tgt'),
        mode: 'online',
      });
      // Only a failing CREATE SUBSCRIPTION would be logged, with its text, under the defaults.
      expect(check(report, 'target.password-logs')).toMatchObject({
        ok: false,
        items: ['log_min_error_statement'],
      });
    } finally {
      await plain.stop();
    }
  });
});
