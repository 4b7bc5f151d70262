import * as path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { figuresByKind, runChaos } from '../chaos/harness';
import { FAULT_KINDS, FAULT_STAGES, planRun, runSeed } from '../chaos/plan';

/** Three runs whose plans, drawn from this seed, hold every fault kind and every stage. */
const SEED = 1;

describe('the chaos harness', () => {
  it('draws the same plan from the same seed, and covers every kind and stage in the short run', () => {
    const plans = [0, 1, 2].map((i) => planRun(runSeed(SEED, i), FAULT_KINDS));
    expect(plans).toEqual([0, 1, 2].map((i) => planRun(runSeed(SEED, i), FAULT_KINDS)));
    for (const plan of plans) expect(new Set(plan.faults.map((f) => f.kind)).size).toBe(3);
    expect(new Set(plans.flatMap((p) => p.faults.map((f) => f.kind)))).toEqual(new Set(FAULT_KINDS));
    expect(new Set(plans.flatMap((p) => p.faults.map((f) => f.stage)))).toEqual(new Set(FAULT_STAGES));
    expect(planRun(2, ['worker-kill']).faults.map((f) => f.kind)).toEqual(Array(3).fill('worker-kill'));
  });

  it('survives three online migrations under a pgbench load with three faults each, every kind among them', async () => {
    const report = await runChaos({
      runs: 3,
      seed: SEED,
      faults: FAULT_KINDS,
      scale: 1,
      rate: 30,
      timeoutMs: 360_000,
      temporalCliPath: inject('temporalCliPath'),
      artifactsDir: path.resolve(__dirname, '..', 'test-artifacts', 'chaos'),
      log: (line) => process.stderr.write(`[chaos] ${line}\n`),
    });
    const failed = report.runs
      .filter((r) => !r.survived)
      .map((r) => ({ seed: r.seed, problems: r.problems, events: r.events }));
    expect(failed).toEqual([]);
    expect(report.survived).toBe(3);
    for (const run of report.runs) {
      expect(run.faults).toHaveLength(3);
      expect(run.load?.pgbenchTransactions).toBeGreaterThan(0);
    }
    const figures = figuresByKind(report.runs);
    expect(figures.filter((k) => k.drawn === 0).map((k) => k.kind)).toEqual([]);
  }, 1_200_000);
});
