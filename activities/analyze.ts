import { qualifiedTableName } from '../domain/chunks';
import type { AnalyzeTargetInput } from '../domain/activity-inputs';
import type { TableRef } from '../domain/tables';
import type { ActivityDeps } from './deps';
import { startHeartbeat } from './heartbeat';
import { quoteIdent, withClient } from './pg/connect';
import { LEDGER_SCHEMA } from './pg/ledger-sql';

/**
 * The user's tables, partitioned tables and materialized views (not the system catalogs, which
 * the load did not fill, nor the copy's ledger, dropped at the end). $1 the ledger's schema.
 */
const ANALYZABLE = `
  SELECT n.nspname AS schema, c.relname AS table
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p', 'm') AND c.relpersistence <> 't'
     AND n.nspname NOT IN ('pg_catalog', 'information_schema', $1)
   ORDER BY 1, 2`;

/**
 * Gathers planner statistics on the target (ANALYZE): a freshly loaded database has none, and the
 * applications switched onto it would get poor plans until autovacuum catches up. Database-wide,
 * or, when the copy has analyzed tables already, the user's other relations (`skip` aside).
 */
export async function analyzeTarget(deps: ActivityDeps, input: AnalyzeTargetInput): Promise<void> {
  const hb = startHeartbeat();
  try {
    hb.update({ detail: 'analyze' });
    await withClient(input.target, deps.env, 'target', async (client) => {
      if (input.skip === undefined) {
        await client.query('ANALYZE');
        return;
      }
      const skip = new Set(input.skip);
      const { rows } = await client.query<TableRef>(ANALYZABLE, [LEDGER_SCHEMA]);
      const rest = rows.filter((r) => !skip.has(qualifiedTableName(r.schema, r.table)));
      if (rest.length === 0) return;
      await client.query(
        `ANALYZE ${rest.map((r) => `${quoteIdent(r.schema)}.${quoteIdent(r.table)}`).join(', ')}`,
      );
    });
  } finally {
    hb.stop();
  }
}
