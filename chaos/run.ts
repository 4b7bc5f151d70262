import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { setupTemporalCli } from '../worker/temporal-cli';
import { runChaos } from './harness';
import { stopOpenStacks } from './stack';
import { FAULT_KINDS, type FaultKind } from './plan';
import { reliabilityMarkdown, summaryText } from './report';

const ROOT = path.resolve(__dirname, '..');

const whole = (min: number, max: number) =>
  z.coerce
    .number({ error: `expected a whole number from ${min} to ${max}` })
    .int({ error: `expected a whole number from ${min} to ${max}` })
    .min(min, { error: `at least ${min}` })
    .max(max, { error: `at most ${max}` });

/** The command line, parsed: every problem names its option and the fix. */
const Options = z.object({
  runs: whole(1, 1000),
  seed: whole(0, 2 ** 32 - 1).optional(),
  faults: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((k) => k.trim())
        .filter(Boolean),
    )
    .pipe(
      z
        .array(z.enum(FAULT_KINDS, { error: `expected kinds among ${FAULT_KINDS.join(', ')}` }))
        .min(1, { error: 'name at least one kind' }),
    )
    .optional(),
  scale: whole(1, 1000).default(3),
  rate: whole(1, 10_000).default(50),
  timeout: whole(60, 3600).default(900),
  report: z.string().min(1).default('docs/RELIABILITY.md'),
  'no-report': z.boolean().default(false),
  json: z.boolean().default(false),
});

/** Bad input: exit 2 with the option, the problem and the fix, before anything starts. */
class BadOption extends Error {
  constructor(
    readonly field: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

function parse(argv: string[]): z.infer<typeof Options> {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        runs: { type: 'string' },
        seed: { type: 'string' },
        faults: { type: 'string' },
        scale: { type: 'string' },
        rate: { type: 'string' },
        timeout: { type: 'string' },
        report: { type: 'string' },
        'no-report': { type: 'boolean' },
        json: { type: 'boolean' },
      },
    }));
  } catch (err) {
    throw new BadOption(undefined, (err as Error).message);
  }
  if (values.runs === undefined) throw new BadOption('runs', 'missing');
  const parsed = Options.safeParse(values);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new BadOption(
      issue?.path[0] === undefined ? undefined : String(issue.path[0]),
      issue?.message ?? 'invalid',
    );
  }
  return parsed.data;
}

function gitCommit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    return dirty.trim() ? `${sha} (with uncommitted changes)` : sha;
  } catch {
    return 'unknown';
  }
}

async function main(argv: string[]): Promise<number> {
  let options: z.infer<typeof Options>;
  try {
    options = parse(argv);
  } catch (err) {
    if (!(err instanceof BadOption)) throw err;
    process.stderr.write(
      `chaos: ${err.field ? `--${err.field}: ` : ''}${err.message}\nFix: npm run chaos -- --runs N [--seed S] [--faults ${FAULT_KINDS.join(',')}] [--scale N] [--rate N] [--timeout SECONDS] [--report FILE | --no-report] [--json]\n`,
    );
    return 2;
  }
  const cli = await setupTemporalCli((line) => process.stderr.write(`${line}\n`));
  if (cli.kind !== 'binary')
    throw new Error('chaos needs the temporal CLI: run `npx pgferry setup-temporal`');
  const report = await runChaos({
    runs: options.runs,
    seed: options.seed ?? randomInt(0, 2 ** 31),
    faults: options.faults ?? ([...FAULT_KINDS] as FaultKind[]),
    scale: options.scale,
    rate: options.rate,
    timeoutMs: options.timeout * 1000,
    temporalCliPath: cli.path,
    artifactsDir: path.join(ROOT, 'test-artifacts', 'chaos'),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  if (!options['no-report']) {
    const file = path.resolve(ROOT, options.report);
    await mkdir(path.dirname(file), { recursive: true });
    const command = `npm run chaos -- ${argv.join(' ')}`.trim();
    const machine = `${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GB`;
    await writeFile(file, reliabilityMarkdown(report, { command, commit: gitCommit(), machine }));
    process.stderr.write(`wrote ${path.relative(ROOT, file)}\n`);
  }
  process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : `${summaryText(report)}\n`);
  return report.survived === report.total ? 0 : 1;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`chaos: ${signal}: stopping the servers of the run under way\n`);
    void stopOpenStacks().finally(() => process.exit(130));
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`chaos: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
