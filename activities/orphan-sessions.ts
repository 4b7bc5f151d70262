import { withDatabase, type ConnSpec } from '../domain/connection';
import { ErrorCode, PgferryError } from '../domain/errors';
import { pollUntil } from './cancel';
import type { ActivityDeps } from './deps';
import { killOrphan, toolTrace, type ToolTrace } from './orphans';
import { withClient } from './pg/connect';
import { END_TOOL_SESSIONS } from './pg/tool-sessions-sql';
import { MAINTENANCE_DB } from './provision/local';

// Ended backends are waited for this long; one that outlives it does not take signals.
const SESSIONS_GONE_TIMEOUT_MS = 15_000;
const SESSIONS_POLL_MS = 20;

/**
 * Before a step runs its tool against `spec`'s database: stops what an earlier attempt of the same
 * step (`key`) left running, so that this attempt never runs beside it. First the tool on this
 * host, by the step's pid file (killOrphan); then, from wherever this attempt runs, the tool's
 * sessions in the database, by the application_name they carry. Returns the trace this attempt's
 * tool is run with (runTool's `pidFile`, and PGAPPNAME).
 */
export async function stopEarlierAttempt(
  deps: ActivityDeps,
  key: string,
  spec: ConnSpec,
  field: string,
): Promise<ToolTrace> {
  const trace = await toolTrace(key);
  const killed = await killOrphan(trace.pidFile);
  if (killed) deps.logger.warn({ pid: killed.pid, tool: killed.cmdline[0], key }, 'stopped an orphaned tool');
  const ended = await endToolSessions(deps, spec, trace.appName, field);
  if (ended > 0) deps.logger.warn({ sessions: ended, key }, "ended an earlier attempt's tool sessions");
  return trace;
}

/** Ends the sessions tagged `appName` in `spec`'s database and waits until they are gone; returns how many. */
async function endToolSessions(
  deps: ActivityDeps,
  spec: ConnSpec,
  appName: string,
  field: string,
): Promise<number> {
  const doing = "ending an earlier attempt's tool sessions";
  // From the maintenance database: the step may go on to drop and re-create its own.
  return withClient(withDatabase(spec, MAINTENANCE_DB), deps.env, { field, doing }, async (client) => {
    const ended = new Set<number>();
    const deadline = Date.now() + SESSIONS_GONE_TIMEOUT_MS;
    return pollUntil({ intervalMs: SESSIONS_POLL_MS, what: doing }, async () => {
      const { rows } = await client.query<{ pid: number }>(END_TOOL_SESSIONS, [spec.database, appName]);
      for (const row of rows) ended.add(row.pid);
      if (rows.length === 0) return ended.size;
      if (Date.now() < deadline) return undefined;
      throw new PgferryError(
        ErrorCode.ToolFailed,
        `${field}: ${rows.length} session(s) of an earlier attempt's tool did not end within ${SESSIONS_GONE_TIMEOUT_MS / 1000} s of pg_terminate_backend (pids ${rows.map((r) => r.pid).join(', ')})`,
        {
          field,
          fix: 'such a backend does not take signals (an I/O wait, an extension): end it on the server',
        },
      );
    });
  });
}
