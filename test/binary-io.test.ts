import * as path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../activities';
import { planChunks } from '../domain/chunks';
import { runActivity, testActivityDeps } from './helpers/activity-env';
import { databaseFingerprint, diffFingerprints } from './helpers/fingerprint';
import {
  adminUrl,
  clonedPair,
  createTemplateDatabase,
  dropDatabase,
  query,
  runCommand,
  startThrowawayCluster,
  uniqueName,
  type ThrowawayCluster,
} from './helpers/pg';
import { useTemporalSuite } from './helpers/suite';
import { waitForStatus } from './helpers/wait';

const FIXTURE = path.join(__dirname, 'fixtures', 'binary-io.sql');

/** Loads the fixture into a new database of a server, with psql. */
async function loadFixture(url: string): Promise<void> {
  await runCommand('psql', [
    '-X',
    '-q',
    '-v',
    'ON_ERROR_STOP=1',
    '--single-transaction',
    '-d',
    url,
    '-f',
    FIXTURE,
  ]);
}

/** Rows more for the source once the copy is under way: what replication (not the copy) must carry. */
const MORE_ROWS = `
  INSERT INTO public.grants (id, item, items, domain_item, namespace, note)
  SELECT g, makeaclitem(r.oid, r.oid, 'UPDATE', true), ARRAY[makeaclitem(0, r.oid, 'SELECT', false)],
         makeaclitem(r.oid, r.oid, 'TRUNCATE', false),
         (SELECT n FROM pg_catalog.pg_namespace n WHERE n.nspname = 'pg_catalog'), 'replicated ' || g
    FROM generate_series(501, 520) AS g, pg_catalog.pg_roles r WHERE r.rolname = current_user;
  UPDATE public.grants SET item = makeaclitem(0, (SELECT oid FROM pg_roles WHERE rolname = current_user), 'SELECT', false)
   WHERE id <= 10;
  DELETE FROM public.grants WHERE id BETWEEN 11 AND 15;`;

describe('copyChunk of a table with built-in types that have no binary I/O', () => {
  const source = uniqueName('binio_s');
  const target = uniqueName('binio_t');

  beforeAll(async () => {
    await createTemplateDatabase(source, FIXTURE);
    await createTemplateDatabase(target, FIXTURE);
    await query(adminUrl(5432, target), 'TRUNCATE public.grants, public.plain');
  });

  afterAll(async () => {
    await dropDatabase(source);
    await dropDatabase(target);
  });

  it('copies aclitem and gtsvector columns as text, and the plain table beside them still as binary', async () => {
    const logged: { chunk?: string; format?: string }[] = [];
    const sink = new Writable({
      write(line: Buffer, _encoding, done) {
        logged.push(JSON.parse(line.toString()) as { chunk?: string; format?: string });
        done();
      },
    });
    const activities = createActivities(testActivityDeps({ logger: pino({ level: 'debug' }, sink) }));
    const urls = { source: adminUrl(5432, source), target: adminUrl(5432, target) };
    await runActivity(activities.ensureLedger, { target: urls.target });
    const tables = await runActivity(activities.listCopyTables, { source: urls.source });
    // Whole tables and page ranges alike.
    for (const split of [Number.MAX_SAFE_INTEGER, 8192]) {
      const migration = `binary-io-${split}`;
      await query(urls.target, 'TRUNCATE public.grants, public.plain');
      for (const chunk of planChunks(tables, { splitLargerThan: split })) {
        const result = await runActivity(activities.copyChunk, { ...urls, migration, chunk });
        expect(result.skipped).toBe(false);
      }
      const [a, b] = await Promise.all([databaseFingerprint(urls.source), databaseFingerprint(urls.target)]);
      for (const table of ['public.grants', 'public.plain']) expect(b.data[table]).toEqual(a.data[table]);
      expect(b.data['public.grants']?.rows).toBe(500);
    }
    const formats = new Map(logged.filter((l) => l.chunk !== undefined).map((l) => [l.chunk, l.format]));
    expect(formats.get('public.grants')).toBe('text');
    expect(formats.get('public.plain')).toBe('binary');
  });
});

describe('migrations of a table with an aclitem column and the other built-in types without binary I/O', () => {
  const template = uniqueName('binio_tpl');
  const databases: string[] = [];
  let sourceServer: ThrowawayCluster;
  let targetServer: ThrowawayCluster;

  beforeAll(async () => {
    await createTemplateDatabase(template, FIXTURE);
    [sourceServer, targetServer] = await Promise.all([
      startThrowawayCluster({ walLevel: 'logical' }),
      startThrowawayCluster({ walLevel: 'logical' }),
    ]);
  });

  afterAll(async () => {
    await sourceServer?.stop();
    await targetServer?.stop();
    for (const name of databases) await dropDatabase(name);
    await dropDatabase(template);
  });

  // After the hooks above: the worker starts once the servers run, and stops before they stop.
  const suite = useTemporalSuite();

  it('migrates offline into a target identical to the source', async () => {
    const { source, target, name } = await clonedPair(template, 'binio', 'offline', databases);
    const run = await suite.client.migrate({
      name,
      source: adminUrl(5432, source),
      target: adminUrl(5432, target),
      autoApprove: true,
      validate: 'checksums',
    });
    const result = await run.result();
    expect(result.outcome).toBe('completed');
    expect(result.validation?.ok).toBe(true);
    const diff = diffFingerprints(
      await databaseFingerprint(adminUrl(5432, source)),
      await databaseFingerprint(adminUrl(5432, target)),
    );
    expect(diff).toEqual([]);
  });

  it('migrates online, with changes replicated after the copy, into a target identical to the source', async () => {
    const name = uniqueName('binio_online');
    await query(sourceServer.url(), `CREATE DATABASE ${name}`);
    await loadFixture(sourceServer.url(name));
    const run = await suite.client.migrate({
      name: name.replace(/_/g, '-'),
      source: sourceServer.url(name),
      target: targetServer.url(name),
      mode: 'online',
      validate: 'checksums',
    });
    await waitForStatus(
      suite.client,
      run.workflowId,
      'the approval gate',
      (s) => s.state === 'waiting',
      60_000,
    );
    await query(sourceServer.url(name), MORE_ROWS);
    await suite.client.approve(name.replace(/_/g, '-'), { by: 'alice', reason: 'aclitem replicates' });
    const result = await run.result();
    expect(result.outcome).toBe('completed');
    expect(result.validation?.ok).toBe(true);
    const [a, b] = await Promise.all([
      databaseFingerprint(sourceServer.url(name)),
      databaseFingerprint(targetServer.url(name)),
    ]);
    expect(diffFingerprints(a, b)).toEqual([]);
    expect(b.data['public.grants']?.rows).toBe(515);
  });
});
