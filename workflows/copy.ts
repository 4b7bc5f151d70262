import { condition } from '@temporalio/workflow';
import { qualifiedTableName, type Chunk } from '../domain/chunks';
import type { TableColumns } from '../activities/copy';
import type { TableValidation } from '../domain/migration';
import { control, data } from './activities';

/** A table named by schema and name. */
interface TableName {
  readonly schema: string;
  readonly table: string;
}

/** One lane's next piece of work: a batch of chunks, or the indexes of tables whose chunks are all in. */
type Work =
  | { readonly kind: 'copy'; readonly batch: Chunk[] }
  | { readonly kind: 'indexes'; readonly tables: TableName[] };

/** Options of copyAndIndex. */
export interface CopyAndIndexOptions {
  readonly source: string;
  readonly target: string;
  readonly migration: string;
  readonly snapshot?: string;
  /** Lanes: activities in flight at once. */
  readonly jobs: number;
  readonly batches: readonly Chunk[][];
  /** Called after each batch with what it copied and how many chunks it held. */
  readonly onCopied: (copied: { rows: number; bytes: number }, chunks: number) => void;
  /** ANALYZE each table after its indexes, on its lane (else the final step analyzes everything). */
  readonly analyze: boolean;
  /**
   * Load the TOASTed columns of split tables as the source holds them (setAsIsStorage): told the
   * columns set, so that a rollback can set them back, before any range is copied.
   */
  readonly asIs?: (set: TableColumns[]) => void;
  /** Of the split tables, those worth the as-is check (all when not given). */
  readonly mayHoldAsIs?: (table: TableName) => boolean;
  /** Validate each table on its lane after its indexes (offline: the source no longer changes). */
  readonly validate?: 'counts' | 'checksums';
}

/** What copyAndIndex did early: post-data items built (pg_restore list keys), tables analyzed and validated. */
export interface CopiedAndIndexed {
  readonly built: string[];
  readonly analyzed: string[];
  readonly validated: TableValidation[];
}

/**
 * Copies the batches on `jobs` lanes and builds each table's indexes (and primary key, unique and
 * exclusion constraints) as soon as its last chunk is in, on a lane the copy no longer needs: the
 * index builds of finished tables overlap the copy of the big ones instead of waiting for all of
 * it. Copies are queued first, so the copy is never held up by an index. Returns the keys of the
 * post-data items built, which the final post-data restore leaves out, and the tables analyzed and
 * validated.
 */
export async function copyAndIndex(options: CopyAndIndexOptions): Promise<CopiedAndIndexed> {
  const remaining = new Map<string, number>();
  const keyOf = (t: TableName) => qualifiedTableName(t.schema, t.table);
  for (const chunk of options.batches.flat())
    remaining.set(keyOf(chunk), (remaining.get(keyOf(chunk)) ?? 0) + 1);
  let asIs: TableColumns[] = [];
  if (options.asIs) {
    const split = new Map<string, TableColumns>();
    for (const chunk of options.batches.flat()) {
      if ((remaining.get(keyOf(chunk)) ?? 0) > 1 && (options.mayHoldAsIs?.(chunk) ?? true))
        split.set(keyOf(chunk), { schema: chunk.schema, table: chunk.table, columns: chunk.columns });
    }
    if (split.size > 0) {
      ({ tables: asIs } = await data.setAsIsStorage({
        source: options.source,
        target: options.target,
        tables: [...split.values()],
        ...(options.snapshot ? { snapshot: options.snapshot } : {}),
      }));
      options.asIs(asIs);
    }
  }
  const queue: Work[] = options.batches.map((batch) => ({ kind: 'copy', batch }));
  const built: string[] = [];
  const analyzed: string[] = [];
  const validated: TableValidation[] = [];
  const run = async (work: Work) => {
    if (work.kind === 'indexes') {
      const done = await data.buildTableIndexes({
        source: options.source,
        target: options.target,
        tables: work.tables,
        ...(options.analyze ? { analyze: true } : {}),
        ...(options.validate ? { validate: options.validate } : {}),
      });
      built.push(...done.built);
      analyzed.push(...(done.analyzed ?? []));
      validated.push(...(done.validated ?? []));
      return;
    }
    const copied = await data.copyChunks({
      source: options.source,
      target: options.target,
      migration: options.migration,
      chunks: work.batch,
      ...(options.snapshot ? { snapshot: options.snapshot } : {}),
    });
    options.onCopied(copied, work.batch.length);
    const ready: TableName[] = [];
    for (const chunk of work.batch) {
      const left = (remaining.get(keyOf(chunk)) ?? 1) - 1;
      remaining.set(keyOf(chunk), left);
      if (left === 0) ready.push({ schema: chunk.schema, table: chunk.table });
    }
    if (ready.length > 0) queue.push({ kind: 'indexes', tables: ready });
  };
  let running = 0;
  let failed = false;
  // A lane with nothing queued waits while others run: a finishing copy may queue an index build.
  const lane = async () => {
    for (;;) {
      await condition(() => queue.length > 0 || running === 0 || failed);
      const work = failed ? undefined : queue.shift();
      if (!work) return;
      running += 1;
      try {
        await run(work);
      } catch (err) {
        // Nothing new starts once a lane has failed: the migration is about to roll back.
        failed = true;
        throw err;
      } finally {
        running -= 1;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.jobs) }, lane));
  // Every range is in: the columns loaded as is get their schema's storage back.
  if (asIs.length > 0) await control.restoreStorage({ target: options.target, tables: asIs });
  return { built, analyzed, validated };
}
