import { pgCtl } from '../test/helpers/pg-ctl';
import { query, type ThrowawayCluster } from '../test/helpers/pg';
import { sleep } from '../test/helpers/wait';
import type { FaultKind } from './plan';
import type { ChaosStack } from './stack';

/**
 * pgferry's sessions on a server: its pools and tools carry application_name `pgferry…`, the
 * subscription's walsender its name `pgferry_…`; on the target, the subscription's apply worker too.
 */
const PGFERRY_SESSIONS = `SELECT pid, coalesce(nullif(application_name, ''), backend_type) AS who
  FROM pg_stat_activity
 WHERE pid <> pg_backend_pid()
   AND (application_name LIKE 'pgferry%' OR ($1 AND backend_type = 'logical replication worker'))`;

const SESSIONS_WAIT_MS = 3000;

/**
 * Ends pgferry's sessions on a server with pg_terminate_backend. At a quiet moment there may be
 * none: it looks again for a few seconds, so that the fault cuts something when it can.
 */
async function endSessions(cluster: ThrowawayCluster, withApplyWorker: boolean): Promise<string> {
  const deadline = Date.now() + SESSIONS_WAIT_MS;
  for (;;) {
    const rows = await query<{ pid: number; who: string }>(cluster.url(), PGFERRY_SESSIONS, [
      withApplyWorker,
    ]);
    if (rows.length > 0 || Date.now() > deadline) {
      const ended = await query<{ who: string; ok: boolean }>(
        cluster.url(),
        'SELECT who, pg_terminate_backend(pid) AS ok FROM unnest($1::int[], $2::text[]) AS s(pid, who)',
        [rows.map((r) => r.pid), rows.map((r) => r.who)],
      );
      const counts = new Map<string, number>();
      for (const { who, ok } of ended) if (ok) counts.set(who, (counts.get(who) ?? 0) + 1);
      const list = [...counts].map(([who, n]) => `${who} ×${n}`).join(', ');
      return `ended ${ended.filter((e) => e.ok).length} sessions${list ? `: ${list}` : ''}`;
    }
    await sleep(100);
  }
}

/** A fast restart of a cluster: every session ended, the server down until it has started again. */
async function restart(cluster: ThrowawayCluster): Promise<string> {
  const began = Date.now();
  await pgCtl(cluster, 'stop');
  await pgCtl(cluster, 'start');
  return `target down and up again in ${((Date.now() - began) / 1000).toFixed(1)} s`;
}

/** Injects one fault into the run's stack and brings back what it took down; returns what happened. */
export function injectFault(stack: ChaosStack, kind: FaultKind): Promise<string> {
  switch (kind) {
    case 'worker-kill':
      return stack.workers.kill();
    case 'temporal-kill':
      return stack.killTemporal();
    case 'source-sessions':
      return endSessions(stack.source, false);
    case 'target-sessions':
      return endSessions(stack.target, true);
    case 'target-restart':
      return restart(stack.target);
    case 'worker-upgrade':
      return stack.workers.upgrade();
  }
}
