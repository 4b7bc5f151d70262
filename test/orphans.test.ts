import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type Activities } from '../activities';
import { killOrphan, toolTrace, writePidRecord, type PidRecord } from '../activities/orphans';
import { schemaStepKey } from '../activities/schema';
import { findTool } from '../activities/tools';
import { parseConnectionUrl } from '../domain/connection';
import { runActivity, testActivityDeps } from './helpers/activity-env';
import { query, startThrowawayCluster, uniqueName, type ThrowawayCluster } from './helpers/pg';
import { waitFor } from './helpers/wait';

const MAKER = path.join(__dirname, 'helpers', 'orphan-maker.ts');

/** Process group and state of a process, read from /proc here (not through the code under test). */
async function stat(pid: number): Promise<{ state: string; pgrp: number } | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', pgrp: Number(fields[2]) };
}

/** True while the process runs: a zombie (killed, not yet reaped by its new parent) does not. */
async function runs(pid: number): Promise<boolean> {
  const s = await stat(pid);
  return s !== undefined && s.state !== 'Z' && s.state !== 'X';
}

/** The running processes of a process group. */
async function groupMembers(pgid: number): Promise<number[]> {
  const members: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = await stat(Number(name));
    if (s && s.pgrp === pgid && s.state !== 'Z' && s.state !== 'X') members.push(Number(name));
  }
  return members;
}

/**
 * Starts `bin args` through the real runTool with `pidFile`, in a separate Node process standing
 * in for a worker, then kills that process with SIGKILL as a crash would. The tool runs on,
 * orphaned; returns its pid file's record.
 */
async function orphanTool(
  bin: string,
  args: readonly string[],
  pidFile: string,
  env: Record<string, string> = {},
): Promise<PidRecord> {
  const worker = spawn(
    process.execPath,
    ['--import', 'tsx', MAKER, JSON.stringify({ bin, args, pidFile, env })],
    { cwd: path.join(__dirname, '..'), stdio: 'ignore' },
  );
  const exited = once(worker, 'exit');
  const record = await waitFor(
    `${bin}'s pid file`,
    async () => {
      const text = await readFile(pidFile, 'utf8').catch(() => undefined);
      return text === undefined ? undefined : (JSON.parse(text) as PidRecord);
    },
    30_000,
  );
  worker.kill('SIGKILL');
  await exited;
  expect(await runs(record.pid), `${bin} outlives its worker`).toBe(true);
  return record;
}

describe('a retried tool never runs beside an orphan of its earlier attempt', () => {
  let dir: string;
  const strays: ChildProcess[] = [];
  const strayGroups: number[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'pgferry-orphans-'));
  });

  afterAll(async () => {
    for (const child of strays) child.kill('SIGKILL');
    for (const pgid of strayGroups) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // gone, as it should be
      }
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('kills an orphaned tool with its whole process group, and returns only once they have all exited', async () => {
    const pidFile = path.join(dir, 'group.pid');
    const record = await orphanTool('sh', ['-c', 'sleep 300 & sleep 300 & wait'], pidFile);
    strayGroups.push(record.pid);
    const members = await waitFor('the shell and its two sleeps', async () => {
      const found = await groupMembers(record.pid);
      return found.length >= 3 ? found : undefined;
    });

    const killed = await killOrphan(pidFile);

    expect(killed).toEqual(record);
    expect(record.cmdline).toEqual(['sh', '-c', 'sleep 300 & sleep 300 & wait']);
    for (const pid of members) expect(await runs(pid), `pid ${pid} of the group`).toBe(false);
    await expect(readFile(pidFile, 'utf8')).rejects.toThrow();
  });

  it('kills an orphan that a wrapper re-executed under its pid, as Debian’s pg_wrapper does for pg_restore', async () => {
    // /usr/bin/pg_restore is a perl script that execs /usr/lib/postgresql/N/bin/pg_restore with the
    // same arguments: the pid and start time stay, the program's path changes.
    const bin = path.join(dir, 'bin');
    await mkdir(bin, { recursive: true });
    const wrapper = path.join(bin, 'sleep');
    await writeFile(wrapper, '#!/bin/sh\nexec /bin/sleep "$@"\n', { mode: 0o755 });
    const pidFile = path.join(dir, 'wrapped.pid');
    const record = await orphanTool(wrapper, ['300'], pidFile);
    strayGroups.push(record.pid);
    await waitFor('the wrapper to exec the real sleep', async () =>
      (await readFile(`/proc/${record.pid}/cmdline`, 'utf8')).startsWith('/bin/sleep\0') ? true : undefined,
    );

    expect(await killOrphan(pidFile)).toEqual(record);
    expect(await runs(record.pid)).toBe(false);
  });

  describe('a pid file that does not name the very process it recorded leaves everything running', () => {
    /** A live process unrelated to any tool, leader of its own group (as a tool is), and a pid file naming it. */
    async function stranger(tag: string): Promise<{ pid: number; pidFile: string; record: PidRecord }> {
      const child = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
      strays.push(child);
      const pid = child.pid!;
      const pidFile = path.join(dir, `${tag}.pid`);
      const record = await writePidRecord(pidFile, pid, ['sleep', '300']);
      if (!record) throw new Error('sleep exited at once');
      return { pid, pidFile, record };
    }

    it('a process that reuses the pid has another start time', async () => {
      const { pid, pidFile, record } = await stranger('reused');
      await writeFile(
        pidFile,
        JSON.stringify({ ...record, startTime: String(Number(record.startTime) - 1) }),
      );
      expect(await killOrphan(pidFile)).toBeUndefined();
      expect(await runs(pid)).toBe(true);
      await expect(readFile(pidFile, 'utf8')).rejects.toThrow();
    });

    it('a process with the recorded start time runs another command', async () => {
      const { pid, pidFile, record } = await stranger('other-command');
      const restore = ['pg_restore', '--format=directory', '--clean', '/backups/x/dump'];
      await writeFile(pidFile, JSON.stringify({ ...record, cmdline: restore }));
      expect(await killOrphan(pidFile)).toBeUndefined();
      expect(await runs(pid)).toBe(true);
    });

    it('a file that holds only a pid, as older versions wrote it', async () => {
      const { pid, pidFile } = await stranger('plain');
      await writeFile(pidFile, String(pid));
      expect(await killOrphan(pidFile)).toBeUndefined();
      expect(await runs(pid)).toBe(true);
    });
  });

  describe('a retried post-data step', () => {
    let cluster: ThrowawayCluster;
    let activities: Activities;
    const source = uniqueName('orph_src');
    const target = uniqueName('orph_dst');

    beforeAll(async () => {
      cluster = await startThrowawayCluster();
      for (const db of [source, target]) await query(cluster.url(), `CREATE DATABASE ${db}`);
      await query(
        cluster.url(source),
        `CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
         CREATE INDEX items_name ON items (name);
         INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 1000) g`,
      );
      activities = createActivities(testActivityDeps());
      await runActivity(activities.copySchemaSection, {
        source: cluster.url(source),
        target: cluster.url(target),
        section: 'pre-data',
        jobs: 1,
        marker: 'orphans-test',
      });
    });

    afterAll(async () => {
      await cluster?.stop();
    });

    it('stops the tool its earlier attempt left running, and ends that tool’s session on the target, before it restores', async () => {
      // What a worker killed during post-data leaves: its tool still running, in a session that
      // carries the step's name, busy with a statement (pg_sleep stands in for a CREATE INDEX).
      const trace = await toolTrace(
        schemaStepKey(parseConnectionUrl(cluster.url(target), 'target'), 'post-data'),
      );
      const orphan = await orphanTool(
        findTool('psql', undefined),
        ['-X', '-c', 'SELECT pg_sleep(300)'],
        trace.pidFile,
        {
          PGHOST: '127.0.0.1',
          PGPORT: String(cluster.port),
          PGUSER: 'postgres',
          PGDATABASE: target,
          PGAPPNAME: trace.appName,
        },
      );
      strayGroups.push(orphan.pid);
      const sessions = () =>
        query<{ pid: number }>(
          cluster.url(),
          'SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = $2',
          [target, trace.appName],
        );
      await waitFor('the orphan’s session', async () => ((await sessions()).length > 0 ? true : undefined));

      const { items } = await runActivity(activities.copySchemaSection, {
        source: cluster.url(source),
        target: cluster.url(target),
        section: 'post-data',
        jobs: 2,
        marker: 'orphans-test',
      });

      expect(await groupMembers(orphan.pid)).toEqual([]);
      expect(await sessions()).toEqual([]);
      expect(items).toBeGreaterThan(0);
      const indexes = await query<{ name: string }>(
        cluster.url(target),
        `SELECT indexname AS name FROM pg_indexes WHERE tablename = 'items' ORDER BY 1`,
      );
      expect(indexes.map((i) => i.name)).toEqual(['items_name', 'items_pkey']);
    });
  });
});
