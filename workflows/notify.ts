import { isCancellation, workflowInfo } from '@temporalio/workflow';
import { failureInfo } from '../domain/failure-info';
import type { Decision, FallbackWindowReport, MigrationInput, ValidationReport } from '../domain/migration';
import {
  deliveryId,
  type ChatMessageRef,
  type LagFacts,
  type MigrationFacts,
  type NotifyEvent,
  type NotifyEventName,
  type SizeFacts,
} from '../domain/notify';
import { notifying } from './activities';
import { tellFleetAtGate } from './fleet-member';
import type { Progress } from './progress';

/** One send, as `pgferry status` shows it under `details.notifications`. */
export interface NotificationRecord {
  readonly event: NotifyEventName;
  readonly target: string;
  readonly delivery: string;
  readonly ok: boolean;
  /** Slack: the message posted or updated. */
  readonly message?: ChatMessageRef;
  /** Slack: a retry found the post of an earlier attempt and posted nothing. */
  readonly found?: boolean;
  readonly error?: { readonly code: string; readonly message: string };
}

/** What the approval request reports besides the migration itself. */
export interface ApprovalFacts {
  readonly size: SizeFacts;
  readonly validation?: ValidationReport | undefined;
  /** Reads the replication lag (online); called only when someone is notified. */
  readonly lag?: (() => Promise<LagFacts>) | undefined;
  /** Why an approval would be refused now; undefined when the migration is ready. */
  readonly notReady?: string | undefined;
}

/**
 * A migration's notifications: resolves its targets once, sends each
 * event to each target as an activity, keeps each Slack approval message's `{channel, ts}` so that
 * decisions update it and reminders reply in its thread, and records every send in the progress
 * details. A send that fails after its retries is recorded and the migration goes on: people can
 * always decide from the CLI.
 */
export class Notifier {
  private targets: readonly string[] = [];
  private seq = 0;
  private readonly approvalMessages = new Map<string, ChatMessageRef>();
  private readonly records: NotificationRecord[] = [];
  private gateOpen = false;
  private failure: unknown;

  constructor(
    private readonly input: MigrationInput,
    private readonly facts: MigrationFacts,
    private readonly progress: Progress,
  ) {}

  /**
   * Resolves the targets on the worker: the input's plus the worker's default channel. A slack:
   * target the worker cannot serve (no SLACK_BOT_TOKEN) fails the migration here, before anything
   * is changed.
   */
  async start(): Promise<void> {
    const request = { targets: this.input.notify };
    this.targets = (await notifying.notifyTargets(request)).targets;
  }

  /** Tells the targets (and its fleet) the migration waits at its gate (Slack: a message with Approve and Reject buttons). */
  async approval(facts: ApprovalFacts): Promise<void> {
    // A fleet's member tells its fleet too (nothing otherwise).
    await tellFleetAtGate();
    if (this.targets.length === 0) return;
    const timeout = this.input.approvalTimeoutSeconds;
    const validation = facts.validation;
    await this.send({
      event: 'approval',
      size: facts.size,
      ...(validation
        ? {
            validation: {
              level: validation.level,
              ok: validation.ok,
              tablesOk: validation.tables.filter((t) => t.ok).length,
              tables: validation.tables.length,
            },
          }
        : {}),
      ...(facts.lag ? { lag: await this.lag(facts.lag) } : {}),
      ...(facts.notReady ? { notReady: facts.notReady } : {}),
      ...(timeout === undefined ? {} : { deadline: this.deadline(timeout) }),
      approvers: this.input.approvers,
      requireSecondPerson: this.input.requireSecondPerson,
    });
    this.gateOpen = true;
  }

  /** A reminder at the reminder points of the deadline (0: it passed and the migration keeps waiting). */
  async reminder(secondsLeft: number): Promise<void> {
    const timeout = this.input.approvalTimeoutSeconds;
    await this.send({
      event: 'reminder',
      secondsLeft,
      approvers: this.input.approvers,
      ...(timeout === undefined || secondsLeft === 0 ? {} : { deadline: this.deadline(secondsLeft) }),
    });
  }

  /** At the gate (online): the migration is no longer ready for approval, and why; or ready again. */
  async readiness(change: {
    ready: boolean;
    problem?: string | undefined;
    lost?: boolean;
    lag?: LagFacts | undefined;
  }): Promise<void> {
    await this.send({
      event: 'readiness',
      ready: change.ready,
      ...(change.problem ? { problem: change.problem } : {}),
      ...(change.lost ? { lost: true } : {}),
      ...(change.lag ? { lag: change.lag } : {}),
    });
  }

  /** The slot holds back more WAL on the source than the threshold. */
  async retainedWal(facts: {
    retainedBytes: number;
    thresholdBytes: number;
    walStatus?: string | undefined;
    safeWalBytes?: number | undefined;
    sourceFreeBytes?: number | undefined;
  }): Promise<void> {
    await this.send({ event: 'retained_wal', ...facts });
  }

  /** The gate closed with a decision: the approval message shows who decided, how and why, without buttons. */
  async decided(decision: Decision): Promise<void> {
    await this.closeGate({
      event: 'decided',
      outcome: decision.outcome,
      by: decision.by,
      ...(decision.reason ? { reason: decision.reason } : {}),
      channel: decision.channel,
      ...(decision.via ? { via: decision.via } : {}),
    });
  }

  /** The deadline passed and the migration rolls back. */
  async expired(timeoutSeconds: number): Promise<void> {
    await this.closeGate({
      event: 'decided',
      outcome: 'expired',
      reason: `nobody decided within ${timeoutSeconds} s`,
    });
  }

  /** The migration completed (the target is ready; the endpoint switch, if any, has run). */
  async completed(size: SizeFacts, downtimeMs: number | undefined): Promise<void> {
    await this.send({ event: 'completed', size, ...(downtimeMs === undefined ? {} : { downtimeMs }) });
  }

  /** The fallback window opened (with its deadline) or ended (how; a fallback's who, why and downtime). */
  async window(report: FallbackWindowReport): Promise<void> {
    const f = report.fallback;
    await this.send({
      event: 'window',
      state: report.state === 'falling_back' ? 'open' : report.state,
      ...(report.until ? { until: report.until } : {}),
      ...(f ? { by: f.by, reason: f.reason, downtimeMs: f.downtimeMs } : {}),
      ...(report.releasedBy ? { by: report.releasedBy } : {}),
      ...(report.problem ? { problem: report.problem } : {}),
    });
  }

  /** Past the point of no return, a step keeps failing (told once per step; it is retried). */
  async attention(problem: { step: string; code: string; message: string; fix: string }): Promise<void> {
    await this.send({
      event: 'attention',
      step: problem.step,
      code: problem.code,
      message: problem.message,
      fix: problem.fix,
    });
  }

  /**
   * The rollback keeps failing (told once; it is retried until it succeeds): event `failed`, with
   * why the migration was rolled back and which steps do not succeed.
   */
  async rollbackStuck(problem: { step: string; code: string; message: string; fix: string }): Promise<void> {
    const why = this.failure === undefined ? undefined : failureInfo(this.failure);
    await this.send({
      event: 'failed',
      reason: isCancellation(this.failure) ? 'cancelled' : (why?.message ?? 'rejected'),
      code: why ? String(why.code) : problem.code,
      rollbackError: `${problem.step}: [${problem.code}] ${problem.message}`,
      fix: problem.fix,
    });
  }

  /** The rejection's rollback is done. */
  async rejected(decision: Decision): Promise<void> {
    await this.send({
      event: 'rejected',
      by: decision.by,
      ...(decision.reason ? { reason: decision.reason } : {}),
    });
  }

  /** Wraps the workflow body to remember why it failed: the rollback notice says it. */
  watch<T>(body: () => Promise<T>): () => Promise<T> {
    return async () => {
      try {
        return await body();
      } catch (err) {
        this.failure = err;
        throw err;
      }
    };
  }

  /**
   * Wraps the compensations (run on failure or cancel, shielded from cancellation): an open gate is
   * closed first, then, once they ran, the targets hear `rolled_back` — or `failed` when a
   * compensation threw too.
   */
  afterRollback(compensate: () => Promise<void>): () => Promise<void> {
    return async () => {
      const cancelled = isCancellation(this.failure);
      const info = failureInfo(this.failure);
      const reason = cancelled ? 'cancelled' : info.message;
      if (this.gateOpen) await this.closeGate({ event: 'decided', outcome: 'cancelled', reason });
      try {
        await compensate();
      } catch (err) {
        await this.send({
          event: 'failed',
          reason,
          code: String(info.code),
          rollbackError: failureInfo(err).message,
        });
        throw err;
      }
      await this.send({ event: 'rolled_back', reason, code: String(info.code), cancelled });
    };
  }

  private async closeGate(event: Extract<NotifyEvent, { event: 'decided' }>): Promise<void> {
    if (this.targets.length === 0) return;
    // Closed before the send: a failure while it is sent must not close it a second time.
    this.gateOpen = false;
    await this.send(event);
  }

  private async send(event: NotifyEvent): Promise<void> {
    if (this.targets.length === 0) return;
    const info = workflowInfo();
    const notification = {
      ...event,
      // The sandbox's Date is the time of the current workflow task, from the history: deterministic.
      at: new Date().toISOString(),
      delivery: deliveryId(info.workflowId, info.runId, ++this.seq, event.event),
      migration: this.facts,
    };
    // One step per target (at most MAX_NOTIFY_TARGETS): a failing webhook never re-posts to Slack.
    await Promise.all(
      this.targets.map(async (target) => {
        try {
          const request = { target, notification, approvalMessage: this.approvalMessages.get(target) };
          const sent = await notifying.notify(request);
          if (event.event === 'approval' && sent.message) this.approvalMessages.set(target, sent.message);
          this.records.push({
            event: event.event,
            target,
            delivery: notification.delivery,
            ok: true,
            ...(sent.message ? { message: sent.message } : {}),
            ...(sent.found ? { found: true } : {}),
          });
        } catch (err) {
          if (isCancellation(err)) throw err;
          const failed = failureInfo(err);
          this.records.push({
            event: event.event,
            target,
            delivery: notification.delivery,
            ok: false,
            error: { code: String(failed.code), message: failed.message },
          });
        }
      }),
    );
    this.progress.detail('notifications', [...this.records]);
    // `details.chat` is the approval message of the first Slack target, in the order of the input
    // (the worker's default channel last), whichever answered first.
    const first = this.targets.map((t) => this.approvalMessages.get(t)).find((m) => m !== undefined);
    if (event.event === 'approval' && first) this.progress.detail('chat', first);
  }

  private async lag(read: () => Promise<LagFacts>): Promise<LagFacts | undefined> {
    try {
      const lag = await read();
      return { lagBytes: lag.lagBytes, lagSeconds: lag.lagSeconds };
    } catch (err) {
      // The message goes out without the lag rather than not at all.
      if (isCancellation(err)) throw err;
      return undefined;
    }
  }

  private deadline(secondsFromNow: number): string {
    return new Date(new Date().getTime() + secondsFromNow * 1000).toISOString();
  }
}
