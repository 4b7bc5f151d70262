import { CancellationScope, condition, isCancellation } from '@temporalio/workflow';
import { batchChunks, planChunks, qualifiedTableName, type Chunk, type TableInfo } from '../domain/chunks';
import { AS_IS_MIN_TOAST_BYTES } from '../domain/constants';
import type { TableValidation } from '../domain/migration';
import type { TableColumns, TableRef } from '../domain/tables';
import { control, data } from './activities';
import { allEnded } from './compensations';
import type { MigrationRun } from './migration-run';
import type { DoneEarly } from './settle';

/** Batches hold small chunks only (16 MB together): big ones keep a lane each and run in parallel. */
const SMALL_BATCH_BYTES = 16 * 1024 * 1024;
/** Chunks in one batch at most: thousands of tables cost tens of activities, and history stays bounded. */
const BATCH_CHUNKS = 100;

/** What the copy stage moved, and what it did early that the final steps need not do again. */
export interface Copied extends DoneEarly {
  readonly tables: number;
  readonly chunks: number;
  readonly rows: number;
  readonly bytes: number;
  /** Post-data items built with their tables (pg_restore list keys): the post-data step skips them. */
  readonly built: readonly string[];
}

/**
 * Copies every table (under `snapshot` when given) chunk by chunk through the ledger, building
 * each table's indexes, statistics and (offline) validation as soon as its rows are in. `listed`
 * is the table list when it was read ahead.
 */
export async function copyTables(
  run: MigrationRun,
  listed: Promise<TableInfo[]> | undefined,
  snapshot?: string,
): Promise<Copied> {
  const { input, progress } = run;
  const listing =
    listed ?? control.listCopyTables({ source: input.source, ...(snapshot ? { snapshot } : {}) });
  // The ledger does not depend on the list: both at once, and both end before going on.
  const [tables] = await allEnded([listing, control.ensureLedger({ target: input.target })]);
  const chunks = planChunks(tables, { splitLargerThan: input.splitLargerThan });
  const totals = { rows: 0, bytes: 0, done: 0 };
  progress.update({ tables: chunks.length, tablesDone: 0, rows: 0, bytes: 0 });
  const toastBytes = new Map(tables.map((t) => [qualifiedTableName(t.schema, t.table), t.toastBytes ?? 0]));
  const early = await copyAndIndex({
    source: input.source,
    target: input.target,
    migration: run.id,
    ...(snapshot ? { snapshot } : {}),
    jobs: input.jobs,
    batches: batchChunks(chunks, { maxBytes: SMALL_BATCH_BYTES, maxChunks: BATCH_CHUNKS }),
    onCopied: (copied, n) => {
      totals.rows += copied.rows;
      totals.bytes += copied.bytes;
      totals.done += n;
      progress.update({ tablesDone: totals.done, rows: totals.rows, bytes: totals.bytes });
    },
    // Offline on a frozen source, a copied table no longer changes: checked now, on its lane.
    ...(input.mode === 'offline' && input.freezeSource && input.validate !== 'none'
      ? { validate: input.validate }
      : {}),
    mayHoldAsIs: (t) => (toastBytes.get(qualifiedTableName(t.schema, t.table)) ?? 0) >= AS_IS_MIN_TOAST_BYTES,
    // A rollback sets the columns back whatever the copy reached (restoring is idempotent).
    asIs: (set) =>
      run.rollback.push('restoreStorage', async () => {
        await control.restoreStorage({ target: input.target, tables: set });
      }),
  });
  return { tables: tables.length, chunks: chunks.length, rows: totals.rows, bytes: totals.bytes, ...early };
}

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
  /**
   * Load the TOASTed columns of split tables as the source holds them (setAsIsStorage): told the
   * columns set, so that a rollback can set them back, before any range is copied.
   */
  readonly asIs: (set: TableColumns[]) => void;
  /** Of the split tables, those worth the as-is check. */
  readonly mayHoldAsIs: (table: TableRef) => boolean;
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
 * exclusion constraints), then ANALYZEs it, as soon as its last chunk is in, on a lane the copy no
 * longer needs: the index builds of finished tables overlap the copy of the big ones instead of
 * waiting for all of it. Copies are queued first, so the copy is never held up by an index.
 */
export async function copyAndIndex(options: CopyAndIndexOptions): Promise<CopiedAndIndexed> {
  const asIs = await setAsIs(options);
  const lanes = new Lanes(options);
  await lanes.run();
  // Every range is in: the columns loaded as is get their schema's storage back.
  if (asIs.length > 0) await control.restoreStorage({ target: options.target, tables: asIs });
  return lanes.result;
}

/** Chunks per table: a table with more than one is split into ranges. */
function chunksPerTable(batches: readonly Chunk[][]): Map<string, number> {
  const count = new Map<string, number>();
  for (const chunk of batches.flat()) {
    const key = qualifiedTableName(chunk.schema, chunk.table);
    count.set(key, (count.get(key) ?? 0) + 1);
  }
  return count;
}

/** Sets the as-is storage of the split tables worth it, before their first range; returns what it set. */
async function setAsIs(options: CopyAndIndexOptions): Promise<TableColumns[]> {
  const count = chunksPerTable(options.batches);
  const split = new Map<string, TableColumns>();
  for (const chunk of options.batches.flat()) {
    const key = qualifiedTableName(chunk.schema, chunk.table);
    if ((count.get(key) ?? 0) > 1 && options.mayHoldAsIs(chunk))
      split.set(key, { schema: chunk.schema, table: chunk.table, columns: chunk.columns });
  }
  if (split.size === 0) return [];
  const { tables } = await data.setAsIsStorage({
    source: options.source,
    target: options.target,
    tables: [...split.values()],
    ...(options.snapshot ? { snapshot: options.snapshot } : {}),
  });
  options.asIs(tables);
  return tables;
}

/** One lane's next piece of work: a batch of chunks, or the indexes of tables whose chunks are all in. */
type Work =
  | { readonly kind: 'copy'; readonly batch: Chunk[] }
  | { readonly kind: 'indexes'; readonly tables: TableRef[] };

/**
 * The copy's lanes. They end together: when one fails, the others start nothing new, their running
 * activities are cancelled, and `run()` returns (throwing the first failure) only once every
 * activity has ended — a rollback never runs beside a copy that still writes.
 */
class Lanes {
  readonly result: CopiedAndIndexed = { built: [], analyzed: [], validated: [] };
  private readonly queue: Work[];
  private readonly remaining: Map<string, number>;
  private running = 0;
  private failure: unknown;
  private readonly scope = new CancellationScope();

  constructor(private readonly options: CopyAndIndexOptions) {
    this.queue = options.batches.map((batch) => ({ kind: 'copy', batch }));
    this.remaining = chunksPerTable(options.batches);
  }

  /** Runs every lane until the queue is empty, or until one fails and the rest have ended. */
  async run(): Promise<void> {
    const lanes = Array.from({ length: Math.max(1, this.options.jobs) }, () =>
      this.scope.run(() => this.lane()),
    );
    await allEnded(lanes).catch((err: unknown) => {
      // A lane cancelled because another failed reports the cause, not its own cancellation.
      throw this.failure ?? err;
    });
  }

  private async lane(): Promise<void> {
    for (;;) {
      // A lane with nothing queued waits while others run: a finishing copy may queue an index build.
      await condition(() => this.queue.length > 0 || this.running === 0 || this.failure !== undefined);
      const work = this.failure === undefined ? this.queue.shift() : undefined;
      if (!work) return;
      this.running += 1;
      try {
        await (work.kind === 'copy' ? this.copy(work.batch) : this.index(work.tables));
      } catch (err) {
        if (this.failure === undefined && !isCancellation(err)) {
          this.failure = err;
          this.scope.cancel();
        }
        throw err;
      } finally {
        this.running -= 1;
      }
    }
  }

  private async copy(batch: Chunk[]): Promise<void> {
    const { options } = this;
    const copied = await data.copyChunks({
      source: options.source,
      target: options.target,
      migration: options.migration,
      chunks: batch,
      ...(options.snapshot ? { snapshot: options.snapshot } : {}),
    });
    options.onCopied(copied, batch.length);
    const ready: TableRef[] = [];
    for (const chunk of batch) {
      const key = qualifiedTableName(chunk.schema, chunk.table);
      const left = (this.remaining.get(key) ?? 1) - 1;
      this.remaining.set(key, left);
      if (left === 0) ready.push({ schema: chunk.schema, table: chunk.table });
    }
    if (ready.length > 0) this.queue.push({ kind: 'indexes', tables: ready });
  }

  private async index(tables: TableRef[]): Promise<void> {
    const done = await data.buildTableIndexes({
      source: this.options.source,
      target: this.options.target,
      tables,
      analyze: true,
      ...(this.options.validate ? { validate: this.options.validate } : {}),
    });
    this.result.built.push(...done.built);
    this.result.analyzed.push(...(done.analyzed ?? []));
    this.result.validated.push(...(done.validated ?? []));
  }
}
