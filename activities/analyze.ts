import { parseConnectionUrl } from '../domain/connection';
import type { ActivityDeps } from './deps';
import { startHeartbeat } from './heartbeat';
import { withClient } from './pg/connect';

/**
 * Gathers planner statistics on the target (ANALYZE, database-wide): a freshly loaded database has
 * none, and the applications switched onto it would get poor plans until autovacuum catches up.
 */
export async function analyzeTarget(deps: ActivityDeps, input: { target: string }): Promise<void> {
  const spec = parseConnectionUrl(input.target, 'target');
  const hb = startHeartbeat();
  try {
    hb.update({ detail: 'analyze' });
    await withClient(spec, deps.env, 'target', (client) => client.query('ANALYZE'));
  } finally {
    hb.stop();
  }
}
