import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import {
  defineQuery,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  isCancellation,
  CancellationScope,
} from '@temporalio/workflow';
import { STATUS_QUERY } from '../domain/constants';
import type { Attention, ProgressFigures, ProgressState } from '../domain/contracts';
import { failureInfo } from '../domain/failure-info';
import { toWorkflowFailure } from './failures';
import { StageSpans } from './stage-spans';

/** The query every pgferry workflow answers with its progress state. */
export const statusQuery = defineQuery<ProgressState>(STATUS_QUERY);

/** Search attribute keys that pgferry keeps current. */
export const SearchKeys = {
  stage: defineSearchAttributeKey('PgferryStage', SearchAttributeType.KEYWORD),
  state: defineSearchAttributeKey('PgferryState', SearchAttributeType.KEYWORD),
  mode: defineSearchAttributeKey('PgferryMode', SearchAttributeType.KEYWORD),
  source: defineSearchAttributeKey('PgferrySource', SearchAttributeType.KEYWORD),
  target: defineSearchAttributeKey('PgferryTarget', SearchAttributeType.KEYWORD),
  approvedBy: defineSearchAttributeKey('PgferryApprovedBy', SearchAttributeType.KEYWORD),
  /** Online: whether the migration may be approved now (ready, not_ready, slot_lost). */
  ready: defineSearchAttributeKey('PgferryReady', SearchAttributeType.KEYWORD),
};

/** Labels of the servers a workflow works on, shown as search attributes. */
export interface Endpoints {
  readonly mode?: string;
  readonly source?: string;
  readonly target?: string;
}

/**
 * A workflow's progress: the stage it is in, its state and figures, served by the `status` query
 * and mirrored to search attributes and the UI's current details.
 */
export class Progress {
  private readonly state: ProgressState;
  /** A line under the figures in the UI's current details (the replication's readiness at the gate). */
  private note: string | undefined;
  /** A tracing span per stage (no-ops unless the worker traces). */
  private readonly spans = new StageSpans();

  constructor(stages: readonly string[], endpoints: Endpoints = {}) {
    this.state = { stage: stages[0] ?? 'start', stages: [...stages], state: 'running', progress: {} };
    this.spans.enter(this.state.stage);
    setHandler(statusQuery, () => this.state);
    const attrs = [];
    if (endpoints.mode) attrs.push({ key: SearchKeys.mode, value: endpoints.mode });
    if (endpoints.source) attrs.push({ key: SearchKeys.source, value: endpoints.source });
    if (endpoints.target) attrs.push({ key: SearchKeys.target, value: endpoints.target });
    upsertSearchAttributes([
      ...attrs,
      { key: SearchKeys.stage, value: this.state.stage },
      { key: SearchKeys.state, value: this.state.state },
    ]);
    this.publish();
  }

  /** The stage the workflow is in. */
  get stage(): string {
    return this.state.stage;
  }

  /** Moves to a stage. */
  enter(stage: string): void {
    this.state.stage = stage;
    this.spans.enter(stage);
    upsertSearchAttributes([{ key: SearchKeys.stage, value: stage }]);
    this.publish();
  }

  /** Merges figures into the progress. */
  update(figures: ProgressFigures): void {
    Object.assign(this.state.progress, figures);
    this.publish();
  }

  /** Sets (or clears) the line the UI's current details show under the figures. */
  setNote(note: string | undefined): void {
    if (note === this.note) return;
    this.note = note;
    this.publish();
  }

  /** Keeps a report for readers of the status (preflight, validation, decision, downtime). */
  detail(key: string, value: unknown): void {
    this.state.details = { ...(this.state.details ?? {}), [key]: value };
  }

  /**
   * Past the point of no return, a step keeps failing: the state says so (needs_attention) with
   * the step, the error and the fix, until `attended()` once the step has succeeded.
   */
  attention(problem: Attention): void {
    this.detail('attention', problem);
    this.setState('needs_attention');
  }

  /** The step that needed attention has succeeded: running again, with the attention kept as history. */
  attended(): void {
    const last = this.state.details?.attention as Attention | undefined;
    if (last) this.detail('attention', { ...last, resolved: true });
    this.setState('running');
  }

  /** Marks the workflow as waiting for a person (or back to running). */
  waiting(on: boolean): void {
    this.setState(on ? 'waiting' : 'running');
  }

  private setState(state: ProgressState['state']): void {
    this.state.state = state;
    upsertSearchAttributes([{ key: SearchKeys.state, value: state }]);
    this.publish();
  }

  /**
   * Runs the workflow body: records completion, failure or cancellation in the state. With
   * `compensate`, a failure or cancellation first runs it (not cancellable) and ends rolled_back,
   * unless `canRollBack` says the workflow is past its point of no return.
   */
  async run<T>(
    body: () => Promise<T>,
    compensate?: () => Promise<void>,
    canRollBack: () => boolean = () => true,
  ): Promise<T> {
    try {
      const result = await body();
      if (this.state.state !== 'rolled_back') this.finish('completed', 'done');
      return result;
    } catch (err) {
      const cancelled = isCancellation(err);
      if (!cancelled) {
        const info = failureInfo(err);
        this.state.error = {
          code: String(info.code),
          message: info.message,
          field: info.field,
          fix: info.fix,
        };
      }
      if (compensate && canRollBack()) {
        await this.rollback(compensate);
      } else {
        this.finish(cancelled ? 'cancelled' : 'failed', this.state.stage);
      }
      throw cancelled ? err : toWorkflowFailure(err);
    }
  }

  /** Runs the compensations in the rollback stage, shielded from cancellation; ends rolled_back. */
  async rollback(compensate: () => Promise<void>): Promise<void> {
    this.enter('rollback');
    await CancellationScope.nonCancellable(compensate);
    this.finish('rolled_back', 'rollback');
  }

  private finish(state: ProgressState['state'], stage: string): void {
    this.state.state = state;
    this.state.stage = stage;
    this.spans.end(state, this.state.error?.message);
    upsertSearchAttributes([
      { key: SearchKeys.stage, value: stage },
      { key: SearchKeys.state, value: state },
    ]);
    this.publish();
  }

  private publish(): void {
    const rows = this.state.stages.map((s) => {
      const at = this.state.stages.indexOf(this.state.stage);
      const mark =
        s === this.state.stage
          ? this.state.state === 'running'
            ? '▶'
            : '■'
          : this.state.stages.indexOf(s) < at
            ? '✓'
            : '·';
      return `| ${mark} | ${s} |`;
    });
    const figures = Object.entries(this.state.progress)
      .map(([k, v]) => `${k}: ${String(v)}`)
      .join(', ');
    setCurrentDetails(
      [
        `**${this.state.state}** — stage \`${this.state.stage}\``,
        '',
        '| | stage |',
        '|---|---|',
        ...rows,
        '',
        figures,
        ...(this.note ? ['', this.note] : []),
      ].join('\n'),
    );
  }
}
