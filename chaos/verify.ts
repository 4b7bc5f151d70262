import type { MigrationResult } from '../domain/migration';
import type { WorkflowStatus } from '../domain/contracts';
import { databaseFingerprint, diffFingerprints } from '../test/helpers/fingerprint';
import { query } from '../test/helpers/pg';
import { DATABASE, type LoadTally } from './source';
import type { ChaosStack } from './stack';

const SHOWN_DIFFERENCES = 12;

/**
 * What is wrong with a finished run; empty when it survived: the migration completed (not
 * rejected, no rollback), the source is frozen, an independent fingerprint (schema, rows,
 * sequences, large objects) of the frozen source equals the target's, nothing of the replication
 * is left on either server, and the load did write while it ran.
 */
export async function verifyRun(
  stack: ChaosStack,
  status: WorkflowStatus,
  load: LoadTally,
): Promise<string[]> {
  if (status.state !== 'completed')
    return [
      `the migration ended ${status.state} at ${status.stage}: ${JSON.stringify(status.error ?? null)}`,
    ];
  const problems: string[] = [];
  const result = status.result as Partial<MigrationResult> | undefined;
  if (result?.outcome !== 'completed') problems.push(`the migration's outcome is ${String(result?.outcome)}`);
  const [readOnly] = await query<{ v: string }>(
    stack.source.url(DATABASE),
    "SELECT current_setting('default_transaction_read_only') AS v",
  );
  if (readOnly?.v !== 'on')
    problems.push(`the source is not frozen (default_transaction_read_only = ${readOnly?.v})`);
  const diff = diffFingerprints(
    await databaseFingerprint(stack.source.url(DATABASE)),
    await databaseFingerprint(stack.target.url(DATABASE)),
  );
  if (diff.length > 0)
    problems.push(
      `the target differs from the source in ${diff.length} ways: ${diff.slice(0, SHOWN_DIFFERENCES).join('; ')}`,
    );
  problems.push(...(await leftovers(stack)));
  if (load.pgbenchTransactions === 0 || load.writer.written === 0)
    problems.push(
      `the write load did not write (pgbench ${load.pgbenchTransactions}, writer ${load.writer.written})`,
    );
  return problems;
}

/** Replication objects a completed migration must not leave: slots and publications on the source, subscriptions on the target. */
async function leftovers(stack: ChaosStack): Promise<string[]> {
  const slots = await query<{ n: string }>(
    stack.source.url(),
    'SELECT slot_name AS n FROM pg_replication_slots',
  );
  const publications = await query<{ n: string }>(
    stack.source.url(DATABASE),
    'SELECT pubname AS n FROM pg_publication',
  );
  const subscriptions = await query<{ n: string }>(
    stack.target.url(),
    'SELECT subname AS n FROM pg_subscription',
  );
  const found = [
    ...slots.map((r) => `slot ${r.n}`),
    ...publications.map((r) => `publication ${r.n}`),
    ...subscriptions.map((r) => `subscription ${r.n}`),
  ];
  return found.length > 0 ? [`left behind: ${found.join(', ')}`] : [];
}
