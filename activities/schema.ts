import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseConnectionUrl, type ConnSpec } from '../domain/connection';
import type { ActivityDeps } from './deps';
import { startHeartbeat } from './heartbeat';
import { isDatabaseEmpty } from './pg/catalog';
import { libpqEnv, withClient } from './pg/connect';
import { filterToc, isTableIndexEntry, tocKey } from './pg/toc';
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
  /** Post-data items already built (buildTableIndexes' keys): left out of this restore. */
  readonly skip?: readonly string[];
}

/** Input of buildTableIndexes. */
export interface TableIndexesInput {
  readonly source: string;
  readonly target: string;
  /** Tables whose every chunk is committed on the target. */
  readonly tables: readonly { readonly schema: string; readonly table: string }[];
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
    const dumpDir = await dumpSection(deps, source, input.section, scratch, hb);
    hb.update({ detail: `restoring ${input.section}` });
    const skip = new Set(input.skip ?? []);
    const useList =
      skip.size > 0
        ? await writeUseList(pgRestore, dumpDir, scratch, (line) => !skip.has(tocKey(line) ?? ''), hb.signal)
        : undefined;
    let items = 0;
    await runPgRestore(pgRestore, dumpDir, target, deps.env, {
      jobs: input.jobs,
      // A retried post-data first drops what an earlier attempt created.
      extraArgs: [
        ...(input.section === 'post-data' ? ['--clean', '--if-exists'] : []),
        ...(useList ? [`--use-list=${useList.file}`] : []),
      ],
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

/**
 * Builds the indexes and the primary key, unique and exclusion constraints of tables whose rows
 * are all on the target, while other tables are still copying: a table's indexes need only its
 * own rows. Returns the keys of what it built, for the final post-data restore to leave out.
 * Safe to retry: each item is dropped (if it exists) and built again.
 */
export async function buildTableIndexes(
  deps: ActivityDeps,
  input: TableIndexesInput,
): Promise<{ built: string[] }> {
  const source = parseConnectionUrl(input.source, 'source');
  const target = parseConnectionUrl(input.target, 'target');
  if (input.tables.length === 0) return { built: [] };
  const pgRestore = findTool('pg_restore', deps.pgBinDir);
  const scratch = await mkdtemp(path.join(tmpdir(), 'pgferry-indexes-'));
  const hb = startHeartbeat();
  try {
    // Quoted, a pattern matches the name literally (pg_dump escapes the pattern characters in it).
    const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;
    const patterns = input.tables.flatMap((t) => ['--table', `${quote(t.schema)}.${quote(t.table)}`]);
    const dumpDir = await dumpSection(deps, source, 'post-data', scratch, hb, patterns);
    const useList = await writeUseList(pgRestore, dumpDir, scratch, isTableIndexEntry, hb.signal);
    if (useList.keys.length === 0) return { built: [] };
    hb.update({ detail: `building ${useList.keys.length} indexes` });
    await runPgRestore(pgRestore, dumpDir, target, deps.env, {
      jobs: 1,
      extraArgs: ['--clean', '--if-exists', `--use-list=${useList.file}`],
      signal: hb.signal,
      onItem: (done) => hb.update({ tablesDone: done }),
    });
    return { built: useList.keys };
  } finally {
    hb.stop();
    await rm(scratch, { recursive: true, force: true });
  }
}

/** pg_dump of one schema section (of some tables only, given `--table` patterns) into a directory archive. */
async function dumpSection(
  deps: ActivityDeps,
  source: ConnSpec,
  section: 'pre-data' | 'post-data',
  scratch: string,
  hb: ReturnType<typeof startHeartbeat>,
  extraArgs: readonly string[] = [],
): Promise<string> {
  hb.update({ detail: `dumping ${section}` });
  const dumpDir = path.join(scratch, 'dump');
  const dumped = await runTool(
    findTool('pg_dump', deps.pgBinDir),
    ['--format=directory', `--section=${section}`, '--no-password', '--file', dumpDir, ...extraArgs],
    { env: libpqEnv(source, deps.env, 'source'), signal: hb.signal },
  );
  if (dumped.code !== 0) throw toolFailure('pg_dump', dumped.stderrTail, 'source');
  return dumpDir;
}

/** Writes the archive's entries that `keep` accepts to a list file for `pg_restore --use-list`. */
async function writeUseList(
  pgRestore: string,
  dumpDir: string,
  scratch: string,
  keep: (line: string) => boolean,
  signal: AbortSignal,
): Promise<{ file: string; keys: string[] }> {
  const full = path.join(scratch, 'full.list');
  const listed = await runTool(pgRestore, ['--list', `--file=${full}`, dumpDir], { signal });
  if (listed.code !== 0) throw toolFailure('pg_restore', listed.stderrTail, 'source');
  const { list, keys } = filterToc(await readFile(full, 'utf8'), keep);
  const file = path.join(scratch, 'use.list');
  await writeFile(file, list);
  return { file, keys };
}
