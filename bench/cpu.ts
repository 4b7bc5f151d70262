import { readdirSync, readFileSync } from 'node:fs';

// Linux reports CPU times in clock ticks of USER_HZ, which is 100 on every architecture Node runs on.
const TICKS_PER_SECOND = 100;

/** The fields of /proc/PID/stat after the command name (which may hold spaces and parentheses). */
function statFields(pid: number | 'self'): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

// Positions in statFields: field n of proc(5) is at n - 3 (pid and comm come before).
const UTIME = 14 - 3;
const STIME = 15 - 3;
const CUTIME = 16 - 3;
const CSTIME = 17 - 3;

/** User + system CPU seconds a process has used itself; 0 once it is gone. */
export function processCpuSeconds(pid: number): number {
  const f = statFields(pid);
  return f ? (Number(f[UTIME]) + Number(f[STIME])) / TICKS_PER_SECOND : 0;
}

/**
 * CPU seconds of a process's children that have exited and been waited for, with all of their own
 * waited-for descendants: for this process, pgcopydb and its workers, pg_dump's, the pgferry CLI;
 * for the pgferry worker, the pg_dump and pg_restore it ran. The difference across a run is what
 * those children used.
 */
export function reapedChildrenCpuSeconds(pid: number | 'self' = 'self'): number {
  const f = statFields(pid);
  return f ? (Number(f[CUTIME]) + Number(f[CSTIME])) / TICKS_PER_SECOND : 0;
}

/** The direct children of a process (from every thread's children list). */
export function childPids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

/** A CPU figure to meter: its label and how to read its seconds so far. */
export interface CpuGauge {
  readonly label: string;
  read(): Promise<number> | number;
}

/** Reads every gauge now; the function returned reads them again and gives each one's seconds since. */
export async function startCpuMeter(
  gauges: readonly CpuGauge[],
): Promise<() => Promise<{ label: string; seconds: number }[]>> {
  const before = await Promise.all(gauges.map(async (g) => g.read()));
  return () =>
    Promise.all(
      gauges.map(async (g, i) => ({ label: g.label, seconds: (await g.read()) - (before[i] ?? 0) })),
    );
}
