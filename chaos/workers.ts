import { spawnPgferry, type PgferryProcess } from '../test/helpers/processes';
import type { Builds } from './builds';

/** A worker process and the build it runs. */
interface Managed {
  readonly proc: PgferryProcess;
  readonly build: number;
  /** Set before the harness stops or kills it: an exit is then no news. */
  expected: boolean;
}

const READY_MS = 120_000;
const GRACE_MS = 60_000;

/**
 * The pgferry worker processes of one run, as a supervisor keeps them: one current worker; one
 * that exits without being told is recorded and started again (as systemd would), so that a
 * crash of the worker is a finding of the run, not the end of it.
 */
export class WorkerPool {
  private current: Managed | undefined;
  private readonly all: Managed[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private stopping = false;
  /** Every exit nobody asked for: what the report lists as worker crashes. */
  readonly unexpectedExits: string[] = [];

  constructor(
    private readonly builds: Builds,
    private readonly env: NodeJS.ProcessEnv,
    private readonly log: (line: string) => void,
  ) {}

  /** The build the current worker runs. */
  get build(): number {
    return this.current?.build ?? 0;
  }

  /** Starts a worker of `build` and makes it current once it polls. */
  start(build = 0): Promise<string> {
    return this.serial(() => this.startNow(build));
  }

  /** `kill -9` of the current worker, and a new one of the same build. */
  kill(): Promise<string> {
    return this.serial(async () => {
      const old = this.current;
      if (!old) return 'no worker was running; started one';
      old.expected = true;
      old.proc.child.kill('SIGKILL');
      await old.proc.exited;
      return `killed worker pid ${old.proc.child.pid} (build ${old.build}); ${await this.startNow(old.build)}`;
    });
  }

  /** A worker of the next build beside the current one, then the current one stopped with SIGTERM. */
  upgrade(): Promise<string> {
    return this.serial(async () => {
      const old = this.current;
      const started = await this.startNow((old?.build ?? 0) + 1);
      if (!old) return started;
      const began = Date.now();
      const how = await this.stopGracefully(old);
      return `${started}; old worker pid ${old.proc.child.pid} (build ${old.build}) ${how} in ${seconds(began)} s`;
    });
  }

  /** Stops every worker (SIGTERM, SIGKILL after a grace period). */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.chain.catch(() => undefined);
    await Promise.all(this.all.map((w) => this.stopGracefully(w, 15_000)));
  }

  /** What every worker printed, by pid: for the artifacts of a failed run. */
  logs(): { name: string; text: string }[] {
    return this.all.map((w) => ({
      name: `worker-${w.proc.child.pid}-build-${w.build}.log`,
      text: `${w.proc.stdout}\n--- stderr ---\n${w.proc.stderr}`,
    }));
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.catch(() => undefined).then(fn);
    this.chain = next;
    return next;
  }

  private async startNow(build: number): Promise<string> {
    const began = Date.now();
    const proc = spawnPgferry(['worker'], this.env, undefined, await this.builds.worker(build));
    const managed: Managed = { proc, build, expected: false };
    this.all.push(managed);
    void proc.exited.then(({ code, signal }) => this.exitedBy(managed, code, signal));
    await proc.waitFor(/ready/, READY_MS);
    this.current = managed;
    return `worker pid ${proc.child.pid} (build ${build}) ready in ${seconds(began)} s`;
  }

  private exitedBy(worker: Managed, code: number | null, signal: NodeJS.Signals | null): void {
    if (worker.expected || this.stopping) return;
    const line = `worker pid ${worker.proc.child.pid} (build ${worker.build}) exited by itself (${code ?? signal}): ${worker.proc.stderr.trim().split('\n').slice(-3).join(' | ')}`;
    this.unexpectedExits.push(line);
    this.log(line);
    if (this.current === worker) {
      this.current = undefined;
      void this.start(worker.build).then(this.log, (err: unknown) =>
        this.log(`restart failed: ${String(err)}`),
      );
    }
  }

  private async stopGracefully(worker: Managed, graceMs = GRACE_MS): Promise<string> {
    worker.expected = true;
    if (worker.proc.child.exitCode !== null || worker.proc.child.signalCode !== null) return 'had exited';
    worker.proc.child.kill('SIGTERM');
    let forced = false;
    const timer = setTimeout(() => {
      forced = true;
      worker.proc.child.kill('SIGKILL');
    }, graceMs);
    await worker.proc.exited;
    clearTimeout(timer);
    return forced ? `did not stop within ${graceMs / 1000} s of SIGTERM and was killed` : 'stopped';
  }
}

function seconds(since: number): string {
  return ((Date.now() - since) / 1000).toFixed(1);
}
