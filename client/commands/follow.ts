import type { WorkflowStatus } from '../../domain/contracts';
import { isLive } from '../../domain/live-states';
import { ErrorCode, PgferryError } from '../../domain/errors';
import type { Output } from '../output';
import type { PgferryClient, WorkflowRun } from '../pgferry-client';
import { isClosed, watch } from '../watch';

/** How long a command without --wait follows its workflow, so that bad input still fails here. */
const ACCEPT_TIMEOUT_MS = 30_000;
/** A pause before waiting on a running workflow's result again after its long poll failed. */
const RESULT_RETRY_MS = 1_000;

/** The stage a migration enters when it fails, is rejected or cancelled: never a sign of acceptance. */
const ROLLBACK_STAGE = 'rollback';

/**
 * A workflow has taken its input once it is past its first stage (the checks) and not rolling
 * back: a migration refused by its preflight (a bad input only the worker can see, such as a
 * password_env it does not hand out) enters `rollback`, and must fail here with the refusal's code.
 */
function accepted(status: WorkflowStatus): boolean {
  return status.stages.length > 0 && status.stage !== status.stages[0] && status.stage !== ROLLBACK_STAGE;
}

/** Still rolling back when the command stops following: it failed, and `status` will say why. */
function rollingBack(status: WorkflowStatus): PgferryError {
  return new PgferryError(ErrorCode.Internal, `${status.id} failed and is rolling back`, {
    field: 'id',
    fix: `follow it with \`pgferry status ${status.id} --watch\`; its error is shown once the rollback ends`,
  });
}

function failureOf(status: WorkflowStatus): PgferryError {
  const e = status.error;
  if (status.state === 'cancelled')
    return new PgferryError(ErrorCode.Cancelled, `${status.id} was cancelled`);
  return new PgferryError(
    (e?.code ?? ErrorCode.Internal) as ErrorCode,
    e?.message ?? `${status.id} ${status.state}`,
    {
      field: e?.field,
      fix: e?.fix,
    },
  );
}

/**
 * Follows a started workflow. With `wait`, to its end: prints the result (exit 0) or throws its
 * error. Without, until it has passed its first stage (the checks): prints the id and stage.
 */
export async function follow<T>(
  client: PgferryClient,
  out: Output,
  run: WorkflowRun<T>,
  wait: boolean,
  human: (result: T) => string,
): Promise<void> {
  const id = run.workflowId;
  if (wait && out.json) {
    // --json draws no progress: only the result's long poll is waited on, no status queries.
    for (;;) {
      const settled = await run.result().then(
        (value) => ({ value }),
        () => undefined,
      );
      const state = await client.state(id);
      if (settled && state === 'completed') {
        out.result({ ok: true, workflowId: id, ...(settled.value as object) }, () => human(settled.value));
        return;
      }
      if (!isLive(state)) throw failureOf(await client.status(id));
      // Still running: the long poll ended early (a server restart, say); wait on it again shortly.
      await new Promise((resolve) => setTimeout(resolve, RESULT_RETRY_MS));
    }
  }
  if (wait) {
    const result = run.result();
    const status = await watch(client, id, out, isClosed, Number.POSITIVE_INFINITY, result);
    if (status.state !== 'completed') throw failureOf(status);
    const value = await result;
    out.result({ ok: true, workflowId: id, ...(value as object) }, () => human(value));
    return;
  }
  const status = await watch(client, id, out, (s) => isClosed(s) || accepted(s), ACCEPT_TIMEOUT_MS);
  if (isClosed(status) && status.state !== 'completed') throw failureOf(status);
  if (status.stage === ROLLBACK_STAGE) throw rollingBack(status);
  out.result({ ok: true, workflowId: id, state: status.state, stage: status.stage }, () =>
    status.state === 'completed'
      ? `${id} completed; see it with: pgferry status ${id}`
      : `${id} started (stage ${status.stage}); follow it with: pgferry status ${id} --watch`,
  );
}
