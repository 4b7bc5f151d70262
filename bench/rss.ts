import { readFileSync } from 'node:fs';

/** Resident memory of a process in bytes (VmRSS), or undefined once it is gone. */
export function readRss(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** What a sampler saw. */
export interface RssSummary {
  /** RSS when sampling began: the idle worker. */
  readonly startBytes: number;
  readonly peakBytes: number;
  readonly endBytes: number;
  readonly samples: number;
}

/**
 * Samples a process's RSS every `intervalMs` until stopped. A timer, not a busy loop: the sampler
 * shares the machine's two cores with the run it measures.
 */
export function sampleRss(pid: number, intervalMs = 200): { stop: () => RssSummary } {
  const first = readRss(pid) ?? 0;
  let peak = first;
  let last = first;
  let samples = 1;
  const timer = setInterval(() => {
    const rss = readRss(pid);
    if (rss === undefined) return;
    samples += 1;
    last = rss;
    if (rss > peak) peak = rss;
  }, intervalMs);
  return {
    stop: () => {
      clearInterval(timer);
      const rss = readRss(pid);
      if (rss !== undefined) {
        last = rss;
        if (rss > peak) peak = rss;
      }
      return { startBytes: first, peakBytes: peak, endBytes: last, samples };
    },
  };
}
