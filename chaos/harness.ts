import * as path from 'node:path';
import { snapshotBuilds } from './builds';
import { FAULT_KINDS, FAULT_STAGES, planRun, runSeed, type FaultKind, type FaultStage } from './plan';
import { runOne, type RunResult } from './run-one';

/** A chaos session's options (`npm run chaos -- …` parses them into this). */
export interface ChaosOptions {
  readonly runs: number;
  readonly seed: number;
  readonly faults: readonly FaultKind[];
  /** pgbench scale of each run's source. */
  readonly scale: number;
  /** pgbench transactions a second during each migration. */
  readonly rate: number;
  readonly timeoutMs: number;
  readonly temporalCliPath: string;
  /** Below the repository (test-artifacts/…): the builds' copies and failed runs' artifacts. */
  readonly artifactsDir: string;
  readonly log: (line: string) => void;
}

/** Survived over drawn, for one fault kind. */
export interface KindFigures {
  readonly kind: FaultKind;
  /** Faults of this kind injected, over all runs. */
  readonly drawn: number;
  /** Of those, the ones whose run survived. */
  readonly survived: number;
  /** Runs with at least one fault of this kind. */
  readonly runs: number;
  /** Where the faults were aimed. */
  readonly stages: Record<FaultStage, number>;
}

/** What a session found. */
export interface ChaosReport {
  readonly seed: number;
  readonly faults: readonly FaultKind[];
  readonly scale: number;
  readonly rate: number;
  readonly startedAt: string;
  readonly seconds: number;
  readonly survived: number;
  readonly total: number;
  readonly perKind: readonly KindFigures[];
  readonly runs: readonly RunResult[];
}

/** Runs `runs` chaos runs one after another (seeds seed, seed + 1, …) and sums them up. */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const began = Date.now();
  const builds = await snapshotBuilds(path.join(options.artifactsDir, `builds-${process.pid}`));
  const runs: RunResult[] = [];
  try {
    for (let i = 0; i < options.runs; i++) {
      const plan = planRun(runSeed(options.seed, i), options.faults);
      options.log(
        `run ${i + 1}/${options.runs}, seed ${plan.seed}: ${plan.faults.map((f) => `${f.kind}@${f.stage}+${f.delayMs}ms`).join(', ')}`,
      );
      runs.push(await runOne(plan, { ...options, builds }));
    }
  } finally {
    await builds.remove();
  }
  return {
    seed: options.seed,
    faults: options.faults,
    scale: options.scale,
    rate: options.rate,
    startedAt: new Date(began).toISOString(),
    seconds: Math.round((Date.now() - began) / 1000),
    survived: runs.filter((r) => r.survived).length,
    total: runs.length,
    perKind: figuresByKind(runs),
    runs,
  };
}

/** Per fault kind: how often drawn, how often its run survived, where it was aimed. */
export function figuresByKind(runs: readonly RunResult[]): KindFigures[] {
  return FAULT_KINDS.map((kind) => {
    const stages = Object.fromEntries(FAULT_STAGES.map((s) => [s, 0])) as Record<FaultStage, number>;
    let drawn = 0;
    let survived = 0;
    let inRuns = 0;
    for (const run of runs) {
      const mine = run.faults.filter((f) => f.kind === kind);
      if (mine.length > 0) inRuns += 1;
      for (const fault of mine) {
        drawn += 1;
        stages[fault.stage] += 1;
        if (run.survived) survived += 1;
      }
    }
    return { kind, drawn, survived, runs: inRuns, stages };
  });
}
