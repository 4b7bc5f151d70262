import { ApplicationFailure, executeChild, workflowInfo } from '@temporalio/workflow';
import type { TableColumns } from '../activities/copy';
import { batchChunks, planChunks, qualifiedTableName, type Chunk, type TableInfo } from '../domain/chunks';
import { AS_IS_MIN_TOAST_BYTES, CONTROL_TASK_QUEUE } from '../domain/constants';
import { connectionLabel, parseConnectionUrl } from '../domain/connection';
import { ErrorCode } from '../domain/errors';
import {
  MIGRATION_STAGES,
  MigrationInput,
  type Decision,
  type MigrationOptions,
  type MigrationResult,
  type TableValidation,
  type ValidationReport,
} from '../domain/migration';
import { control, data } from './activities';
import { ApprovalGate } from './approval';
import { Notifier } from './notify';
import { copyAndIndex } from './copy';
import { copyUnderSlotSnapshot, replicationName, waitForCatchUp } from './online';
import { parseWorkflowInput } from './input';
import { Progress, SearchKeys } from './progress';
import { provision, provisionMarker } from './provision';
import { patched, upsertSearchAttributes } from '@temporalio/workflow';

/** Patch id: chunks copied in batches (histories recorded before it copy one chunk per activity). */
const BATCHED_COPY = 'batched-copy';
/** Batches hold small chunks only (16 MB together): big ones keep a lane each and run in parallel. */
const SMALL_BATCH_BYTES = 16 * 1024 * 1024;
/** Patch id: ANALYZE on the target alongside the validation. */
const ANALYZE_TARGET = 'analyze-target';
/** Patch id: each table's indexes built as soon as its chunks are in, overlapping the copy. */
const EARLY_INDEXES = 'early-indexes';
/** Patch id: each table ANALYZEd on its lane after its indexes; the final ANALYZE takes the rest. */
const TABLE_STATISTICS = 'table-statistics';
/** Patch id: split tables' incompressible TOASTed columns loaded as the source holds them. */
const SPLIT_AS_IS = 'split-as-is';
/**
 * Patch id: independent steps at the start run at once (notification targets with the preflight,
 * the table list with the ledger), and only split tables with TOAST enough are checked for as-is
 * columns.
 */
const QUICK_START = 'quick-start';
/** Patch id: offline, each table validated on its lane after its indexes; the final step does the rest. */
const TABLE_VALIDATION = 'table-validation';
/**
 * Patch id: offline, the table list is read while pre-data restores; at the end, sequences, large
 * objects and statistics run at once, then the validation.
 */
const PARALLEL_STEPS = 'parallel-steps';
/** Patch id: the endpoint-switch step after finalize. */
const SWITCH_HOOK = 'switch-hook';

/** Runs `fn` over `items` with at most `width` at once: a bounded fan-out keeps history and load in check. */
async function windowed<T>(
  items: readonly T[],
  width: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  });
  await Promise.all(lanes);
}

/**
 * Runs steps at once and waits until every one has ended, then throws the first failure: nothing
 * goes on (a rollback least of all) while one of them still runs.
 */
async function allEnded<T extends readonly unknown[]>(
  steps: readonly [...{ [K in keyof T]: Promise<T[K]> }],
): Promise<T> {
  const ended = await Promise.allSettled(steps as readonly Promise<unknown>[]);
  const failed = ended.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return ended.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

/** The final report: the tables validated on the lanes and the rest, in name order. */
function mergeValidation(early: readonly TableValidation[], rest: ValidationReport): ValidationReport {
  if (early.length === 0) return rest;
  const key = (t: TableValidation) => `${t.schema}\u0000${t.table}`;
  const tables = [...early, ...rest.tables].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  return { ...rest, tables, ok: rest.ok && early.every((t) => t.ok) };
}

/** Waits at the gate, with the deadline and reminders the input asks for. */
async function waitForDecision(
  gate: ApprovalGate,
  input: MigrationInput,
  progress: Progress,
  notifier: Notifier,
): Promise<Decision> {
  const timeout = input.approvalTimeoutSeconds;
  if (timeout === undefined) return gate.wait();
  const remind = async (secondsLeft: number) => {
    await control.remindApproval({ name: input.name, secondsLeft, approvers: input.approvers });
    await notifier.reminder(secondsLeft);
  };
  const decision = await gate.waitUntil(timeout, remind);
  if (decision) return decision;
  progress.detail('approvalExpired', true);
  if (input.onApprovalTimeout === 'wait') {
    await remind(0);
    return gate.wait();
  }
  await notifier.expired(timeout);
  throw ApplicationFailure.create({
    type: ErrorCode.ApprovalExpired,
    message: `approval: nobody decided within ${timeout} seconds`,
    nonRetryable: true,
    details: [
      {
        field: 'approvalTimeoutSeconds',
        fix: 'start the migration again, or give --on-approval-timeout wait',
      },
    ],
  });
}

/**
 * Moves one database from a source server to a target server: preflight, provision, schema
 * (pre-data), chunked copy with a ledger, schema (post-data), sequences and large objects,
 * validation, a person's approval, and the completion steps. On failure, rejection or cancel the
 * compensations run in reverse and the migration ends rolled_back.
 */
export async function migration(raw: MigrationOptions): Promise<MigrationResult> {
  const input = parseWorkflowInput(MigrationInput, raw, 'migration');
  const id = workflowInfo().workflowId;
  const source = parseConnectionUrl(input.source, 'source');
  const target = parseConnectionUrl(input.target, 'target');
  const stages = MIGRATION_STAGES.filter((s) => input.mode === 'online' || s !== 'replicate');
  const progress = new Progress(stages, {
    mode: input.mode,
    source: connectionLabel(source),
    target: connectionLabel(target),
  });
  const gate = new ApprovalGate(
    input.approvers,
    () => progress.stage === 'approval',
    () => {
      progress.detail('approval', { decision: gate.decision, refused: gate.refused });
    },
    { startedBy: input.startedBy, requireSecondPerson: input.requireSecondPerson },
  );
  const notifier = new Notifier(
    input,
    {
      name: input.name,
      workflowId: id,
      source: connectionLabel(source),
      target: connectionLabel(target),
      mode: input.mode,
      startedBy: input.startedBy,
    },
    progress,
  );

  const provisionId = `${id}-provision`;
  const marker = provisionMarker(provisionId);
  const compensations: (() => Promise<void>)[] = [];
  const compensate = async () => {
    for (const step of compensations.reverse()) await step();
  };

  const body = async (): Promise<MigrationResult> => {
    const checks = { source: input.source, target: input.target, mode: input.mode };
    let preflight: Awaited<ReturnType<typeof control.runPreflight>>;
    if (patched(QUICK_START)) {
      // Both end before anything else: a failed preflight is still told to the targets.
      [, preflight] = await allEnded([notifier.start(), control.runPreflight(checks)]);
    } else {
      await notifier.start();
      preflight = await control.runPreflight(checks);
    }
    progress.detail('preflight', preflight);
    if (!preflight.ok) {
      const failed = preflight.checks.filter((c) => !c.ok && c.severity === 'error');
      throw ApplicationFailure.create({
        type: ErrorCode.PreflightFailed,
        message: `preflight: ${failed.map((c) => `${c.id}: ${c.message}`).join('; ')}`,
        nonRetryable: true,
        details: [
          { field: failed[0]?.id.startsWith('connect.source') ? 'source' : 'target', fix: failed[0]?.fix },
        ],
      });
    }

    progress.enter('provision');
    const provisioned = await executeChild(provision, {
      workflowId: provisionId,
      taskQueue: CONTROL_TASK_QUEUE,
      args: [{ provider: 'local', target: input.target }],
    });
    if (input.onRollback === 'drop' && provisioned.created) {
      compensations.push(async () => {
        await control.dropOwnTarget({ target: input.target, marker });
      });
    }

    // The source's catalog does not wait for the target's schema: offline, it is listed meanwhile.
    const parallelSteps = patched(PARALLEL_STEPS);
    const listedEarly =
      input.mode === 'offline' && parallelSteps
        ? control.listCopyTables({ source: input.source })
        : undefined;
    // Handled here so that a failure of pre-data first leaves no unhandled rejection behind.
    listedEarly?.catch(() => undefined);
    progress.enter('schema');
    await data.copySchemaSection({
      source: input.source,
      target: input.target,
      section: 'pre-data',
      jobs: input.jobs,
      marker,
    });

    let frozenAt: number | undefined;
    const freeze = async () => {
      compensations.push(async () => {
        await control.unfreezeSource({ source: input.source });
      });
      frozenAt = (await control.freezeSource({ source: input.source })).frozenAt;
    };
    if (input.mode === 'offline' && input.freezeSource) await freeze();

    const totals = { tables: 0, chunks: 0, rows: 0, bytes: 0 };
    /** Post-data items the copy built early (keys of pg_restore's list): the post-data step skips them. */
    const indexesBuilt = new Set<string>();
    /** Tables the lanes analyzed; undefined when the final step analyzes the whole database. */
    let analyzedEarly: Set<string> | undefined;
    /** Tables the lanes validated (offline); the final validation adds the others. */
    let validatedEarly: TableValidation[] = [];
    let earlyIndexes = false;
    /** Copies every table (under `snapshot` when given), chunk by chunk through the ledger. */
    const copyData = async (snapshot?: string) => {
      const listing =
        snapshot === undefined && listedEarly
          ? listedEarly
          : control.listCopyTables({
              source: input.source,
              ...(snapshot ? { snapshot } : {}),
            });
      const quick = patched(QUICK_START);
      let tables: TableInfo[];
      if (quick) {
        // The ledger does not depend on the list: both at once, and both end before going on.
        [tables] = await allEnded([listing, control.ensureLedger({ target: input.target })]);
      } else {
        tables = await listing;
      }
      const chunks: Chunk[] = planChunks(tables, { splitLargerThan: input.splitLargerThan });
      const toastBytes = new Map(tables.map((t) => [qualifiedTableName(t.schema, t.table), t.toastBytes]));
      if (!quick) await control.ensureLedger({ target: input.target });
      let done = 0;
      Object.assign(totals, { tables: tables.length, chunks: chunks.length, rows: 0, bytes: 0 });
      progress.update({ tables: chunks.length, tablesDone: 0, rows: 0, bytes: 0 });
      const count = (copied: { rows: number; bytes: number }, n: number) => {
        totals.rows += copied.rows;
        totals.bytes += copied.bytes;
        done += n;
        progress.update({ tablesDone: done, rows: totals.rows, bytes: totals.bytes });
      };
      if (patched(BATCHED_COPY)) {
        // Small chunks travel in batches: thousands of tables cost tens of activities, and history stays bounded.
        const batches = batchChunks(chunks, { maxBytes: SMALL_BATCH_BYTES, maxChunks: 100 });
        earlyIndexes = patched(EARLY_INDEXES);
        if (earlyIndexes) {
          const analyze = patched(TABLE_STATISTICS);
          // Offline, a copied table no longer changes (or changes as it would by the end): check it now.
          const validateEarly =
            input.mode === 'offline' && input.validate !== 'none' && patched(TABLE_VALIDATION)
              ? input.validate
              : undefined;
          const early = await copyAndIndex({
            source: input.source,
            target: input.target,
            migration: id,
            ...(snapshot ? { snapshot } : {}),
            jobs: input.jobs,
            batches,
            onCopied: count,
            analyze,
            ...(validateEarly ? { validate: validateEarly } : {}),
            ...(patched(SPLIT_AS_IS)
              ? {
                  // A table listed without its TOAST size (an older worker) may hold enough: checked.
                  mayHoldAsIs: (t: { schema: string; table: string }) =>
                    !quick ||
                    (toastBytes.get(qualifiedTableName(t.schema, t.table)) ?? AS_IS_MIN_TOAST_BYTES) >=
                      AS_IS_MIN_TOAST_BYTES,
                  asIs: (set: TableColumns[]) => {
                    // A rollback sets them back whatever the copy reached (restoring is idempotent).
                    compensations.push(async () => {
                      await control.restoreStorage({ target: input.target, tables: set });
                    });
                  },
                }
              : {}),
          });
          // A copy started over (online, new snapshot) truncates tables: their indexes stay.
          for (const key of early.built) indexesBuilt.add(key);
          // …but not their statistics: only the last copy's analyzed tables count.
          if (analyze) analyzedEarly = new Set(early.analyzed);
          validatedEarly = early.validated;
          return;
        }
        await windowed(batches, input.jobs, async (batch) => {
          const copied = await data.copyChunks({
            source: input.source,
            target: input.target,
            migration: id,
            chunks: batch,
            ...(snapshot ? { snapshot } : {}),
          });
          count(copied, batch.length);
        });
      } else {
        await windowed(chunks, input.jobs, async (chunk) => {
          count(
            await data.copyChunk({ source: input.source, target: input.target, migration: id, chunk }),
            1,
          );
        });
      }
    };

    progress.enter('copy');
    const name = replicationName(input.name);
    const replication = {
      source: input.source,
      target: input.target,
      subscription: name,
      publication: name,
      slot: name,
    };
    if (input.mode === 'online') {
      // The publication exists before the slot: decoding reads the catalog as of each change.
      compensations.push(async () => {
        await control.dropReplication(replication);
      });
      await control.createPublication({ source: input.source, publication: name });
      await copyUnderSlotSnapshot(input, id, name, copyData);
    } else {
      await copyData();
    }

    progress.enter('schema');
    const postData = data.copySchemaSection({
      source: input.source,
      target: input.target,
      section: 'post-data',
      jobs: input.jobs,
      marker,
      ...(indexesBuilt.size > 0 ? { skip: [...indexesBuilt] } : {}),
    });
    // With the indexes built during the copy, what is left of post-data (foreign keys, triggers,
    // matview data) runs alongside the offline final steps, which only read the tables' rows.
    const overlapPostData = input.mode === 'offline' && earlyIndexes;
    if (!overlapPostData) await postData;

    /** Sequences, large objects and validation: the final steps on a source that no longer changes. */
    const settle = async () => {
      const analyze = () =>
        patched(ANALYZE_TARGET)
          ? data.analyzeTarget({
              target: input.target,
              ...(analyzedEarly ? { skip: [...analyzedEarly] } : {}),
            })
          : Promise.resolve();
      let sequences: number;
      let largeObjects: number;
      let analyzing: Promise<void>;
      if (parallelSteps) {
        // Independent of one another; the validation reads what the first two set, so it waits for them.
        analyzing = analyze();
        [{ sequences }, { largeObjects }] = await allEnded([
          control.syncSequences({ source: input.source, target: input.target }),
          data.copyLargeObjects({ source: input.source, target: input.target }),
        ]).catch(async (err: unknown) => {
          await analyzing.catch(() => undefined);
          throw err;
        });
      } else {
        ({ sequences } = await control.syncSequences({ source: input.source, target: input.target }));
        ({ largeObjects } = await data.copyLargeObjects({ source: input.source, target: input.target }));
        // Statistics are gathered while the validation reads: both only read the data.
        analyzing = analyze();
      }
      let validation: ValidationReport | undefined;
      if (input.validate !== 'none') {
        progress.enter('validate');
        const rest = await data.validateTables({
          source: input.source,
          target: input.target,
          level: input.validate,
          ...(validatedEarly.length > 0
            ? { skip: validatedEarly.map((t) => qualifiedTableName(t.schema, t.table)) }
            : {}),
        });
        validation = mergeValidation(validatedEarly, rest);
        progress.detail('validation', validation);
        if (!validation.ok) {
          const bad = validation.tables.filter((t) => !t.ok).map((t) => `${t.schema}.${t.table}`);
          throw ApplicationFailure.create({
            type: ErrorCode.ValidationFailed,
            message: `validation: the target differs from the source (${bad.slice(0, 5).join(', ') || 'sequences or large objects'})`,
            nonRetryable: true,
            details: [{ field: 'target', fix: 'see the validation report in `pgferry status`' }, validation],
          });
        }
      }
      await analyzing;
      return { sequences, largeObjects, validation };
    };

    let settled: Awaited<ReturnType<typeof settle>> | undefined;
    if (input.mode === 'online') {
      await control.createSubscription(replication);
      progress.enter('replicate');
      await waitForCatchUp(input, name, progress);
    } else {
      // Both end before anything else runs: a rollback must not drop or unfreeze under a running post-data.
      [settled] = await allEnded([settle(), postData]);
    }

    progress.enter('approval');
    let decision: Decision;
    if (input.autoApprove) {
      decision = gate.autoApprove(input.startedBy ?? 'auto-approve');
    } else {
      progress.waiting(true);
      await notifier.approval({
        size: { bytes: totals.bytes, rows: totals.rows, tables: totals.tables },
        validation: settled?.validation,
        lag: input.mode === 'online' ? () => control.replicationLag(replication) : undefined,
      });
      decision = await waitForDecision(gate, input, progress, notifier);
      progress.waiting(false);
      await notifier.decided(decision);
    }
    progress.detail('approval', { decision, refused: gate.refused });
    const summary = () => ({
      name: input.name,
      mode: input.mode,
      source: input.source,
      target: input.target,
      decision,
      preflight,
      ...(settled?.validation ? { validation: settled.validation } : {}),
      tables: totals.tables,
      chunks: totals.chunks,
      rows: totals.rows,
      bytes: totals.bytes,
      sequences: settled?.sequences ?? 0,
      largeObjects: settled?.largeObjects ?? 0,
    });
    if (decision.outcome === 'rejected') {
      await progress.rollback(compensate);
      await notifier.rejected(decision);
      return { ...summary(), outcome: 'rejected' as const };
    }
    upsertSearchAttributes([{ key: SearchKeys.approvedBy, value: decision.by }]);

    if (input.mode === 'online') {
      // Cutover: nothing new on the source, everything it wrote applied on the target, then the final steps.
      progress.enter('cutover');
      await freeze();
      const { lsn } = await control.currentLsn({ source: input.source });
      await control.waitForReplay({ ...replication, lsn });
      settled = await settle();
      progress.enter('cutover');
      await control.dropReplication(replication);
    }

    if (input.mode === 'offline') progress.enter('cutover');
    progress.enter('finalize');
    const { at: readyAt } = await control.finalizeTarget({ target: input.target });
    if (patched(SWITCH_HOOK)) {
      await control.switchEndpoint({
        migration: input.name,
        source: input.source,
        target: input.target,
        url: input.switchHook,
      });
    }
    const downtimeMs = frozenAt === undefined ? undefined : readyAt - frozenAt;
    if (downtimeMs !== undefined) progress.detail('downtimeMs', downtimeMs);
    await notifier.completed({ bytes: totals.bytes, rows: totals.rows, tables: totals.tables }, downtimeMs);
    return {
      ...summary(),
      outcome: 'completed' as const,
      ...(downtimeMs === undefined ? {} : { downtimeMs }),
    };
  };
  // The notifier hears why the body failed and speaks after the compensations, which run shielded from cancel.
  return progress.run(notifier.watch(body), notifier.afterRollback(compensate));
}
