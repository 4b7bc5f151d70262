import { qualifiedTableName } from '../domain/chunks';
import type { AnalyzeTargetInput } from '../domain/activity-inputs';
import type { TableRef } from '../domain/tables';
import type { ActivityDeps } from './deps';
import { startHeartbeat } from './heartbeat';
import { ANALYZABLE, ANALYZE_DATABASE, analyzeTablesSql } from './pg/analyze-sql';
import { withClient } from './pg/connect';
import { LEDGER_SCHEMA } from './pg/ledger-sql';

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
        await client.query(ANALYZE_DATABASE);
        return;
      }
      const skip = new Set(input.skip);
      const { rows } = await client.query<TableRef>(ANALYZABLE, [LEDGER_SCHEMA]);
      const rest = rows.filter((r) => !skip.has(qualifiedTableName(r.schema, r.table)));
      if (rest.length === 0) return;
      await client.query(analyzeTablesSql(rest));
    });
  } finally {
    hb.stop();
  }
}
