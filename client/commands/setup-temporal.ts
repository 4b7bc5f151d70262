import type { Command } from 'commander';
import { setupTemporalCli } from '../../worker/temporal-cli';
import { setupTemporalServer } from '../../worker/temporal-server';
import { outputFor, withJson, type CommonOptions } from './context';

/** `pgferry setup-temporal`: find or build the Temporal CLI, or with --server the Temporal server and its SQL tool. */
export function registerSetupTemporal(program: Command): void {
  withJson(
    program
      .command('setup-temporal')
      .description(
        'find the temporal CLI ($TEMPORAL_CLI_PATH, PATH, $(go env GOPATH)/bin), else build it with go install',
      )
      .option(
        '--server',
        'instead, the Temporal server and its SQL schema tool for a self-hosted cluster ($TEMPORAL_SERVER_PATH and $TEMPORAL_SQL_TOOL_PATH, temporal-server and temporal-sql-tool on PATH, server and sql in $(go env GOPATH)/bin), else built with go install',
      ),
  ).action(async (flags: CommonOptions & { server?: boolean }) => {
    const out = outputFor(flags);
    const say = (line: string) => process.stderr.write(`${line}\n`);
    if (flags.server) {
      const found = await setupTemporalServer(say);
      out.result({ ok: true, ...found }, () => `${found.server}\n${found.sqlTool}`);
      return;
    }
    const cli = await setupTemporalCli(say);
    out.result({ ok: true, ...cli }, () =>
      cli.kind === 'binary' ? cli.path : 'the SDK download will be used',
    );
  });
}
