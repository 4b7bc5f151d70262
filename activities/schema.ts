import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseConnectionUrl } from '../domain/connection';
import type { ActivityDeps } from './deps';
import { startHeartbeat } from './heartbeat';
import { isDatabaseEmpty } from './pg/catalog';
import { libpqEnv, withClient } from './pg/connect';
import { recreateOwnDatabase } from './provision/local';
import { runPgRestore } from './pg-restore';
import { findTool, runTool, toolFailure } from './tools';

/** Input of the copySchemaSection activity. */
export interface SchemaSectionInput {
  readonly source: string;
  readonly target: string;
  /** pre-data: types, tables, functions (before the copy); post-data: indexes, constraints, triggers, matview data. */
  readonly section: 'pre-data' | 'post-data';
  readonly jobs: number;
  /** The marker of the provisioned target: a retried pre-data step may re-create that database only. */
  readonly marker: string;
}

/**
 * Copies one section of the source's schema with pg_dump (directory format, in a scratch folder)
 * and pg_restore -j N. Safe to retry: pre-data starts again from a re-created (own, still empty of
 * data) target; post-data drops what an earlier attempt created first (--clean --if-exists).
 */
export async function copySchemaSection(
  deps: ActivityDeps,
  input: SchemaSectionInput,
): Promise<{ items: number }> {
  const source = parseConnectionUrl(input.source, 'source');
  const target = parseConnectionUrl(input.target, 'target');
  const pgDump = findTool('pg_dump', deps.pgBinDir);
  const pgRestore = findTool('pg_restore', deps.pgBinDir);
  const scratch = await mkdtemp(path.join(tmpdir(), `pgferry-${input.section}-`));
  const hb = startHeartbeat();
  try {
    if (input.section === 'pre-data') {
      const empty = await withClient(target, deps.env, 'target', (c) => isDatabaseEmpty(c));
      if (!empty) {
        hb.update({ detail: 'clearing what an earlier attempt left' });
        await recreateOwnDatabase(deps, target, input.marker);
      }
    }
    hb.update({ detail: `dumping ${input.section}` });
    const dumpDir = path.join(scratch, 'dump');
    const dumped = await runTool(
      pgDump,
      ['--format=directory', `--section=${input.section}`, '--no-password', '--file', dumpDir],
      { env: libpqEnv(source, deps.env, 'source'), signal: hb.signal },
    );
    if (dumped.code !== 0) throw toolFailure('pg_dump', dumped.stderrTail, 'source');
    hb.update({ detail: `restoring ${input.section}` });
    let items = 0;
    await runPgRestore(pgRestore, dumpDir, target, deps.env, {
      jobs: input.jobs,
      // A retried post-data first drops what an earlier attempt created.
      extraArgs: input.section === 'post-data' ? ['--clean', '--if-exists'] : [],
      signal: hb.signal,
      onItem: (done) => {
        items = done;
        hb.update({ tablesDone: done });
      },
    });
    return { items };
  } finally {
    hb.stop();
    await rm(scratch, { recursive: true, force: true });
  }
}
