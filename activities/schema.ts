import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { qualifiedTableName } from '../domain/chunks';
import type { SchemaSectionInput, TableIndexesInput } from '../domain/activity-inputs';
import type { ConnSpec } from '../domain/connection';
import type { TableValidation } from '../domain/migration';
import { closeOnAbort } from './cancel';
import type { ActivityDeps } from './deps';
import { startHeartbeat } from './heartbeat';
import { stopEarlierAttempt } from './orphan-sessions';
import type { ToolTrace } from './orphans';
import { isDatabaseEmpty } from './pg/catalog';
import { analyzeTablesSql } from './pg/analyze-sql';
import { libpqEnv, withClient } from './pg/connect';
import { INDEX_MEMORY, RAISE_MAINTENANCE_MEMORY, TABLE_INDEX_ITEMS } from './pg/index-sql';
import { EMPTY_SEARCH_PATH } from './pg/session-sql';
import { filterToc, isDdlCaptureEntry, isPgferryPublication, isSchemaEntry, tocKey } from './pg/toc';
import { validateOnClients } from './validate';
import { recreateOwnDatabase } from './provision/local';
import { runPgRestore } from './pg-restore';
import { findTool, runTool, toolFailure } from './tools';

/**
 * Copies one section of the source's schema with pg_dump (directory format, in a scratch folder)
 * and pg_restore -j N. Safe to retry: what an earlier attempt left running (its pg_restore and that
 * one's sessions on the target) is stopped first; then pre-data starts again from a re-created
 * (own, still empty of data) target, and post-data drops what an earlier attempt created
 * (--clean --if-exists).
 */
export async function copySchemaSection(
  deps: ActivityDeps,
  input: SchemaSectionInput,
): Promise<{ items: number }> {
  const { source, target } = input;
  const pgRestore = findTool('pg_restore', deps.pgBinDir);
  const scratch = await mkdtemp(path.join(tmpdir(), `pgferry-${input.section}-`));
  const hb = startHeartbeat();
  try {
    hb.update({ detail: 'stopping what an earlier attempt left running' });
    const trace = await stopEarlierAttempt(deps, schemaStepKey(target, input.section), target, 'target');
    if (input.section === 'pre-data') {
      const empty = await withClient(target, deps.env, 'target', (c) => isDatabaseEmpty(c));
      if (!empty) {
        hb.update({ detail: 'clearing what an earlier attempt left' });
        await recreateOwnDatabase(deps, target, input.marker);
      }
    }
    const dumpDir = await dumpSection(deps, source, input.section, scratch, hb, trace);
    hb.update({ detail: `restoring ${input.section}` });
    const lists = await restoreLists(pgRestore, dumpDir, scratch, input, hb.signal);
    let items = 0;
    for (const useList of lists) {
      const before = items;
      await runPgRestore(pgRestore, dumpDir, target, deps.env, {
        jobs: input.jobs,
        // A retried post-data first drops what an earlier attempt created.
        extraArgs: [
          ...(input.section === 'post-data' ? ['--clean', '--if-exists'] : []),
          ...(useList ? [`--use-list=${useList}`] : []),
        ],
        signal: hb.signal,
        trace,
        onItem: (done) => {
          items = before + done;
          hb.update({ tablesDone: items });
        },
      });
    }
    return { items };
  } finally {
    hb.stop();
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Builds the indexes and the primary key, unique and exclusion constraints of tables whose rows
 * are all on the target, while other tables are still copying: a table's indexes need only its
 * own rows. They are read from the source's catalog (one query, no pg_dump) and created on the
 * target one after another, with at least INDEX_MEMORY of maintenance_work_mem (sorts in memory
 * rather than on disk). With `analyze`, each table is then ANALYZEd, so the statistics are ready
 * with the table instead of in one database-wide pass at the end; with `validate`, the tables are
 * then validated on the same connections (validateOnClients). Returns the keys of what it built,
 * for the final post-data restore to leave out (what the catalog query does not take stays with
 * that restore), the tables analyzed and the validation. Safe to retry: each item is dropped (if
 * it exists) and built again.
 */
export async function buildTableIndexes(
  deps: ActivityDeps,
  input: TableIndexesInput,
): Promise<{ built: string[]; analyzed?: string[]; validated?: TableValidation[] }> {
  const { source, target } = input;
  const none = {
    built: [],
    ...(input.analyze ? { analyzed: [] } : {}),
    ...(input.validate ? { validated: [] } : {}),
  };
  if (input.tables.length === 0) return none;
  const hb = startHeartbeat();
  try {
    // The source connection stays open for the validation at the end, if asked for.
    return await withClient(source, deps.env, 'source', async (src) => {
      // Definitions printed with every name qualified, as pg_dump prints them.
      await src.query(EMPTY_SEARCH_PATH);
      const { rows: items } = await src.query<{ key: string; drop_sql: string; create_sql: string }>(
        TABLE_INDEX_ITEMS,
        [input.tables.map((t) => t.schema), input.tables.map((t) => t.table)],
      );
      if (items.length === 0 && !input.analyze && !input.validate) return none;
      return withClient(target, deps.env, 'target', async (client) => {
        // A cancelled build ends with its connection: the server rolls the statement back.
        const stopClosing = closeOnAbort(hb.signal, client);
        try {
          await client.query(EMPTY_SEARCH_PATH);
          await client.query(RAISE_MAINTENANCE_MEMORY, [INDEX_MEMORY]);
          for (const [done, item] of items.entries()) {
            hb.update({ detail: `building index ${done + 1} of ${items.length}`, tablesDone: done });
            await client.query(item.drop_sql);
            await client.query(item.create_sql);
          }
          if (input.analyze) {
            for (const table of input.tables) {
              hb.update({ detail: `analyzing ${qualifiedTableName(table.schema, table.table)}` });
              await client.query(analyzeTablesSql([table]));
            }
          }
          const validated = input.validate
            ? await validateOnClients(src, client, input.tables, input.validate, hb)
            : undefined;
          return {
            built: items.map((item) => item.key),
            ...(input.analyze
              ? { analyzed: input.tables.map((t) => qualifiedTableName(t.schema, t.table)) }
              : {}),
            ...(validated ? { validated } : {}),
          };
        } finally {
          stopClosing();
        }
      });
    });
  } finally {
    hb.stop();
  }
}

/** What tells one schema step from every other, at every attempt: its section and its target database. */
export function schemaStepKey(target: ConnSpec, section: 'pre-data' | 'post-data'): string {
  return `schema ${section} ${target.host}:${target.port}/${target.database}`;
}

/** pg_dump of one schema section into a directory archive. */
async function dumpSection(
  deps: ActivityDeps,
  source: ConnSpec,
  section: 'pre-data' | 'post-data',
  scratch: string,
  hb: ReturnType<typeof startHeartbeat>,
  trace: ToolTrace,
): Promise<string> {
  hb.update({ detail: `dumping ${section}` });
  const dumpDir = path.join(scratch, 'dump');
  const dumped = await runTool(
    findTool('pg_dump', deps.pgBinDir),
    ['--format=directory', `--section=${section}`, '--no-password', '--file', dumpDir],
    { env: libpqEnv(source, deps.env, 'source'), signal: hb.signal, pidFile: trace.pidFile },
  );
  if (dumped.code !== 0) throw toolFailure('pg_dump', dumped.stderrTail, 'source');
  return dumpDir;
}

/**
 * The use-lists of a section's restore, in order (undefined: the whole archive). Post-data of an
 * online source holds pgferry's capture of schema changes: never restored; everything post-data
 * holds may have been built during the copy: then nothing is left (no list). Pre-data with grants
 * on schemas restores the schemas and their grants first (isSchemaEntry), then the rest.
 */
async function restoreLists(
  pgRestore: string,
  dumpDir: string,
  scratch: string,
  input: SchemaSectionInput,
  signal: AbortSignal,
): Promise<(string | undefined)[]> {
  const skip = new Set(input.skip ?? []);
  const keep = (line: string) =>
    !skip.has(tocKey(line) ?? '') && !isDdlCaptureEntry(line) && !isPgferryPublication(line);
  const listing = await readToc(pgRestore, dumpDir, scratch, signal);
  if (input.section === 'pre-data' && /^\d+; \d+ \d+ ACL - SCHEMA /m.test(listing)) {
    const schemas = filterToc(listing, (line) => keep(line) && isSchemaEntry(line));
    const rest = filterToc(listing, (line) => keep(line) && !isSchemaEntry(line));
    return [
      await writeList(scratch, 'schemas.list', schemas.list),
      await writeList(scratch, 'rest.list', rest.list),
    ];
  }
  if (input.section === 'pre-data' && skip.size === 0) return [undefined];
  const { list, keys } = filterToc(listing, keep);
  return keys.length === 0 ? [] : [await writeList(scratch, 'use.list', list)];
}

/** The archive's table of contents (`pg_restore --list`). */
async function readToc(pgRestore: string, dumpDir: string, scratch: string, signal: AbortSignal) {
  const full = path.join(scratch, 'full.list');
  const listed = await runTool(pgRestore, ['--list', `--file=${full}`, dumpDir], { signal });
  if (listed.code !== 0) throw toolFailure('pg_restore', listed.stderrTail, 'source');
  return readFile(full, 'utf8');
}

/** Writes a list file for `pg_restore --use-list` into the scratch folder. */
async function writeList(scratch: string, name: string, list: string): Promise<string> {
  const file = path.join(scratch, name);
  await writeFile(file, list);
  return file;
}
