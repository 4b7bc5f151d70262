import { mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { DEFAULTS } from '../../domain/constants';
import type { WorkflowStatus } from '../../domain/contracts';
import { ErrorCode, PgferryError } from '../../domain/errors';
import type { MigrationResult, ValidationReport } from '../../domain/migration';
import { formatBytes, formatCount } from '../format';
import { writeReport } from '../report/write';
import { isClosed, watch } from '../watch';
import { ONLINE_ADDITIONS, psql, SAMPLE, WRITE_LOAD } from './sample';
import { say, uiLink, type Tour } from './tour';
import { startWriteLoad, type WriteTally } from './writer';

/** How the online tour takes its decision. */
export interface OnlineTourOptions {
  /** Approve by itself after the countdown (--yes); else wait for a person. */
  readonly yes: boolean;
  readonly countdownSeconds: number;
}

const second = () => new Promise<void>((resolve) => setTimeout(resolve, 1000));

/** Source and target: two throw-away clusters with wal_level=logical, the sample loaded into the source. */
async function provisionClusters(tour: Tour): Promise<{ source: string; target: string }> {
  say(
    tour,
    '1/5 provisioning two throw-away clusters (wal_level=logical): a source with the sample database, an empty target…',
  );
  const provision = async (cluster: string) =>
    (await tour.client.provision({ provider: 'local-cluster', cluster, database: 'shop' })).result();
  const [source, target] = await Promise.all([provision('demo-source'), provision('demo-target')]);
  psql(source.target, ['-f', SAMPLE]);
  psql(source.target, ['-c', ONLINE_ADDITIONS]);
  return { source: source.target, target: target.target };
}

/** The commands a person runs in another terminal, with what this demo's stack needs to be reached. */
function decisionCommand(tour: Tour, verb: 'approve' | 'reject', name: string, reason: string): string {
  const env = [
    ...(tour.port === DEFAULTS.temporalPort ? [] : [`TEMPORAL_ADDRESS=${tour.address}`]),
    ...(tour.config.stateDir === path.resolve(DEFAULTS.stateDir)
      ? []
      : [`PGFERRY_STATE_DIR=${tour.config.stateDir}`]),
  ];
  return [...env, `npx pgferry ${verb} ${name} --as YOUR_NAME --reason "${reason}"`].join(' ');
}

/** Says where the migration stands at its gate, and how to decide. */
function showGate(tour: Tour, name: string, workflowId: string, gate: WorkflowStatus): void {
  const validation = (gate.details as { validation?: { ok: boolean; level: string } } | undefined)
    ?.validation;
  say(
    tour,
    [
      '',
      `The migration waits at its approval gate: replication lag ${formatBytes(gate.progress.lagBytes ?? 0)}${validation ? `, validation while replicating (${validation.level}) ${validation.ok ? 'equal' : 'DIFFERENT'}` : ''}.`,
      `  Temporal UI  ${uiLink(tour, workflowId)}`,
      `  approve      ${decisionCommand(tour, 'approve', name, 'lag is low, validation equal')}`,
      `  or reject    ${decisionCommand(tour, 'reject', name, 'not today')}`,
      '',
    ].join('\n'),
  );
}

/** Whether the migration still waits at its gate. */
async function waiting(tour: Tour, workflowId: string): Promise<boolean> {
  return (await tour.client.status(workflowId)).state === 'waiting';
}

/**
 * --yes: counts down, then approves as `demo` (a refusal because the replication is not ready just
 * now is tried again for a minute). A decision someone else takes meanwhile ends the countdown.
 */
async function approveAfterCountdown(tour: Tour, name: string, workflowId: string, seconds: number) {
  for (let left = seconds; left > 0; left--) {
    say(tour, `approving by itself in ${left} s (--yes)…`);
    await second();
    if (!(await waiting(tour, workflowId))) return;
  }
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await tour.client.approve(name, {
        by: 'demo',
        reason: `approved by the demo's --yes after a ${seconds} s countdown`,
      });
      return;
    } catch (err) {
      const refused = err instanceof PgferryError && err.code === ErrorCode.ApprovalRefused;
      if (!refused || Date.now() > deadline || !(await waiting(tour, workflowId))) throw err;
      await second();
    }
  }
}

function validationLines(title: string, v: ValidationReport | undefined): string[] {
  if (!v) return [];
  const head = `${title} (${v.level}): ${v.ok ? 'equal' : 'DIFFERENCES'}, ${v.tables.length} tables`;
  return [
    head,
    ...v.tables
      .filter((t) => !t.ok)
      .map((t) => `  ✗ ${t.schema}.${t.table}: ${t.note ?? `${t.sourceRows} / ${t.targetRows} rows`}`),
  ];
}

/** The closing lines: downtime, validations, the write load, the report, the UI. */
function closing(tour: Tour, r: MigrationResult, writes: WriteTally, report: string, ui: string): string {
  const head =
    r.outcome === 'completed'
      ? `migration ${r.name} completed: ${formatCount(r.rows)} rows, ${formatBytes(r.bytes)} copied; cut over with ${formatCount(r.downtimeMs ?? 0)} ms of downtime (source frozen → target ready)`
      : `migration ${r.name} was rejected by ${r.decision?.by ?? '?'}: rolled back, the source as it was`;
  return [
    '',
    head,
    ...validationLines('validation while replicating', r.validationWhileReplicating),
    ...validationLines('validation at the cutover', r.validation),
    `write load on the source: ${formatCount(writes.written)} rounds committed, ${formatCount(writes.refused)} refused once it was frozen`,
    `report       ${report}`,
    `Temporal UI  ${ui}`,
    tour.exit ? '' : 'Ctrl-C stops the server, the worker and the demo clusters.',
  ].join('\n');
}

/**
 * The headline tour (`pgferry demo`): an online migration under a write load that stops at a
 * person's approval, cuts over in about a second, and leaves its report. Returns whether it
 * completed with an equal validation.
 */
export async function onlineTour(tour: Tour, options: OnlineTourOptions): Promise<boolean> {
  const { client, out } = tour;
  const { source, target } = await provisionClusters(tour);
  say(tour, '2/5 starting a write load on the source (a checkout every 20 ms)…');
  const load = startWriteLoad(source, WRITE_LOAD);
  try {
    const name = `shop-${new Date().toISOString().slice(11, 19).replace(/:/g, '')}`;
    say(
      tour,
      `3/5 migrating online: preflight, schema, copy under the slot's snapshot, replication, validation…`,
    );
    const run = await client.migrate({
      name,
      source,
      target,
      mode: 'online',
      validate: 'checksums',
      splitLargerThan: 4 * 1024 * 1024,
    });
    const gate = await watch(client, run.workflowId, out, (s) => s.state === 'waiting' || isClosed(s));
    if (gate.state === 'waiting') {
      showGate(tour, name, run.workflowId, gate);
      if (options.yes) await approveAfterCountdown(tour, name, run.workflowId, options.countdownSeconds);
      else say(tour, '4/5 waiting for a decision (approve or reject as above; Ctrl-C stops the demo)…');
      const decided = await watch(client, run.workflowId, out, (s) => s.state !== 'waiting');
      say(
        tour,
        decided.stage === 'rollback' || decided.state === 'rolled_back'
          ? '5/5 rejected: rolling back (slot, publication and subscription dropped, the source as it was)…'
          : '5/5 cutting over: lag checked, source frozen, last changes drained, sequences synced, counts checked…',
      );
    }
    await watch(client, run.workflowId, out, isClosed, Number.POSITIVE_INFINITY, run.result());
    const result = await run.result();
    const writes = await load.stop();
    const dir = path.join(tour.config.stateDir, 'reports');
    await mkdir(dir, { recursive: true });
    const report = path.join(dir, `${run.workflowId}.html`);
    await writeReport(client, run.workflowId, { html: report });
    const ui = uiLink(tour, run.workflowId);
    const ok = result.outcome === 'completed' && (result.validation?.ok ?? false);
    out.result({ ok, ...result, writes, report, ui }, () => closing(tour, result, writes, report, ui));
    return ok;
  } finally {
    await load.stop();
  }
}
