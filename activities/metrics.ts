/** One look at an online migration's replication, as the metrics keep it. */
export interface ReplicationFigures {
  readonly lagBytes: number | null;
  readonly lagSeconds: number | null;
  /** WAL the slot holds back on the source; undefined when not read. */
  readonly retainedWalBytes?: number | null | undefined;
  /** WAL the source may still write before the slot is lost; null when unbounded. */
  readonly safeWalBytes?: number | null | undefined;
  /** Whether the migration may cut over now; undefined when not judged. */
  readonly ready?: boolean | undefined;
}

/**
 * What activities report to the worker's metrics. The worker labels each report with the workflow
 * of the activity that made it; activities only say what happened.
 */
export interface ActivityMetrics {
  /** A chunk committed on the target (not one found in the ledger): its rows and bytes. */
  chunkCopied(rows: number, bytes: number): void;
  /** Bytes a chunk in flight has streamed since its last report (copy throughput). */
  bytesStreamed(delta: number): void;
  /** The figures of one look at the replication. */
  replication(figures: ReplicationFigures): void;
}
