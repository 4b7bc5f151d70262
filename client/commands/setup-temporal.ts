import type { Command } from 'commander';
import { setupTemporalCli } from '../../worker/temporal-cli';
import { outputFor, withJson, type CommonOptions } from './context';

/** `pgferry setup-temporal`: find or build the Temporal CLI. */
export function registerSetupTemporal(program: Command): void {
  withJson(
    program
      .command('setup-temporal')
      .description(
        'find the temporal CLI ($TEMPORAL_CLI_PATH, PATH, $(go env GOPATH)/bin), else build it with go install',
      ),
  ).action(async (flags: CommonOptions) => {
    const out = outputFor(flags);
    const cli = await setupTemporalCli((line) => process.stderr.write(`${line}\n`));
    out.result({ ok: true, ...cli }, () =>
      cli.kind === 'binary' ? cli.path : 'the SDK download will be used',
    );
  });
}
