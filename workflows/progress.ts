import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import {
  defineQuery,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  isCancellation,
} from '@temporalio/workflow';
import { STATUS_QUERY } from '../domain/constants';
import type { ProgressFigures, ProgressState } from '../domain/contracts';
import { failureInfo } from '../domain/failure-info';
import { toWorkflowFailure } from './failures';

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

  constructor(stages: readonly string[], endpoints: Endpoints = {}) {
    this.state = { stage: stages[0] ?? 'start', stages: [...stages], state: 'running', progress: {} };
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

  /** Moves to a stage. */
  enter(stage: string): void {
    this.state.stage = stage;
    upsertSearchAttributes([{ key: SearchKeys.stage, value: stage }]);
    this.publish();
  }

  /** Merges figures into the progress. */
  update(figures: ProgressFigures): void {
    Object.assign(this.state.progress, figures);
    this.publish();
  }

  /** Runs the workflow body: records completion, failure or cancellation in the state. */
  async run<T>(body: () => Promise<T>): Promise<T> {
    try {
      const result = await body();
      this.finish('completed', 'done');
      return result;
    } catch (err) {
      if (isCancellation(err)) {
        this.finish('cancelled', this.state.stage);
        throw err;
      }
      const info = failureInfo(err);
      this.state.error = { code: String(info.code), message: info.message, field: info.field, fix: info.fix };
      this.finish('failed', this.state.stage);
      throw toWorkflowFailure(err);
    }
  }

  private finish(state: ProgressState['state'], stage: string): void {
    this.state.state = state;
    this.state.stage = stage;
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
      ].join('\n'),
    );
  }
}
