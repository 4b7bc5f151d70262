import { z } from 'zod';
import { ErrorCode, PgferryError } from './errors';
import { TableColumns } from './tables';

/**
 * A table whose own rows the copy moves, as the source's catalog describes it. `columns`: every
 * non-dropped, non-generated column, in the source's attnum order (what COPY names).
 */
export interface TableInfo extends TableColumns {
  /** pg_table_size: heap, TOAST, free space and visibility maps; what the copy has to move. */
  readonly bytes: number;
  /** Pages of the main fork: the unit of ctid ranges. */
  readonly pages: number;
  /** The planner's row estimate (0 when the table was never analyzed). */
  readonly rowsEstimate: number;
  /** Bytes of its TOAST table (absent in results recorded before it was listed). */
  readonly toastBytes?: number;
}

/**
 * A ctid page range `[fromPage, toPage)`. Without `toPage` the range is open-ended: it runs to the
 * table's end, wherever that is when the chunk is copied. The last range of a split table is
 * always open, so rows on pages added after planning are copied too (JSON has no Infinity, so the
 * open end is an absent field rather than a sentinel number).
 */
export interface PageRange {
  readonly fromPage: number;
  readonly toPage?: number;
}

/** The unit of data copy: a whole table, or one ctid page range of a large table. */
export interface Chunk extends TableColumns {
  /**
   * Stable, readable and unique: the qualified table name (quoted only where needed, so two tables
   * never share one), plus `#n[from,to)` for a page range, e.g. `"Sales".orders#3[2048,)`. The
   * range is part of the id so that a different plan can never find another range's ledger row.
   */
  readonly id: string;
  /** Undefined: the whole table. */
  readonly range?: PageRange;
  readonly estimatedBytes: number;
}

/** A page number: the range's pages go into SQL as tid literals, so nothing else may pass. */
const PageNumber = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** A page range as a chunk carries it: page numbers, `toPage` (when given) above `fromPage`. */
export const PageRange = z
  .object({ fromPage: PageNumber, toPage: PageNumber.optional() })
  .refine((r) => r.toPage === undefined || r.toPage > r.fromPage, {
    message: 'not a valid page range',
    params: {
      fix: 'plan chunks with planChunks: fromPage and toPage are page numbers, toPage above fromPage',
    },
  }) satisfies z.ZodType<PageRange>;

/** A chunk as an activity receives it. */
export const Chunk = TableColumns.extend({
  id: z.string().min(1),
  range: PageRange.optional(),
  estimatedBytes: z.number(),
}) satisfies z.ZodType<Chunk>;

/** Options of the chunk planner. */
export interface PlanOptions {
  /** Tables larger than this many bytes are split into ctid ranges of about this size. */
  readonly splitLargerThan: number;
}

// What PostgreSQL's quote_ident leaves bare (keywords aside, which only matter to a parser, not to
// the uniqueness of an id).
const BARE_IDENTIFIER = /^[a-z_][a-z0-9_$]*$/;

/** A name as SQL would write it: bare when it can be, double-quoted otherwise. */
function readableIdent(name: string): string {
  return BARE_IDENTIFIER.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/** `schema.table` as a person (and psql) would write it; quoting makes it unambiguous. */
export function qualifiedTableName(schema: string, table: string): string {
  return `${readableIdent(schema)}.${readableIdent(table)}`;
}

// Code-unit order, not localeCompare: the plan must not depend on the worker's locale.
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The page ranges of a table: one per ~splitLargerThan bytes, the last one open-ended. */
function pageRanges(t: TableInfo, splitLargerThan: number): PageRange[] {
  // A table of one page (however large its TOAST) cannot be split by ctid.
  if (t.bytes <= splitLargerThan || t.pages < 2) return [];
  const pieces = Math.min(t.pages, Math.ceil(t.bytes / splitLargerThan));
  const pagesPerPiece = Math.ceil(t.pages / pieces);
  const ranges: PageRange[] = [];
  for (let from = 0; from < t.pages; from += pagesPerPiece) {
    const to = from + pagesPerPiece;
    ranges.push(to >= t.pages ? { fromPage: from } : { fromPage: from, toPage: to });
  }
  return ranges;
}

/**
 * Plans the copy: one chunk per table, or ctid page ranges of about `splitLargerThan` bytes for a
 * larger table, largest first (the long chunks start early, so the copy does not end waiting on
 * one). Deterministic: the same tables give the same chunks in the same order.
 */
export function planChunks(tables: readonly TableInfo[], options: PlanOptions): Chunk[] {
  const { splitLargerThan } = options;
  if (!Number.isFinite(splitLargerThan) || splitLargerThan <= 0) {
    throw new PgferryError(ErrorCode.InvalidInput, 'splitLargerThan: expected a positive number of bytes', {
      field: 'splitLargerThan',
    });
  }
  const chunks: Chunk[] = [];
  for (const t of tables) {
    const name = qualifiedTableName(t.schema, t.table);
    const base = { schema: t.schema, table: t.table, columns: [...t.columns] };
    const ranges = pageRanges(t, splitLargerThan);
    if (ranges.length === 0) {
      chunks.push({ id: name, ...base, estimatedBytes: t.bytes });
      continue;
    }
    ranges.forEach((range, i) => {
      const to = range.toPage ?? t.pages;
      chunks.push({
        id: `${name}#${i + 1}[${range.fromPage},${range.toPage ?? ''})`,
        ...base,
        range,
        estimatedBytes: Math.round((t.bytes * (to - range.fromPage)) / t.pages),
      });
    });
  }
  return chunks.sort(
    (a, b) =>
      b.estimatedBytes - a.estimatedBytes ||
      compareText(a.schema, b.schema) ||
      compareText(a.table, b.table) ||
      (a.range?.fromPage ?? 0) - (b.range?.fromPage ?? 0),
  );
}

/** Limits of one batch of chunks that a single activity copies one after another. */
export interface BatchOptions {
  /**
   * At most this many estimated bytes in a batch. A chunk larger than this is a batch of its own, so
   * large tables and the ranges of a split table still run in parallel lanes.
   */
  readonly maxBytes: number;
  /** At most this many chunks in a batch. */
  readonly maxChunks: number;
}

/**
 * Groups chunks into batches so that a database of thousands of small tables costs tens of
 * activities, not thousands: the workflow history stays bounded (DESIGN invariant 4). Keeps the
 * largest-first order; deterministic.
 */
export function batchChunks(chunks: readonly Chunk[], options: BatchOptions): Chunk[][] {
  const batches: Chunk[][] = [];
  let current: Chunk[] = [];
  let bytes = 0;
  for (const chunk of chunks) {
    if (
      current.length > 0 &&
      (bytes + chunk.estimatedBytes > options.maxBytes || current.length >= options.maxChunks)
    ) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(chunk);
    bytes += chunk.estimatedBytes;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
