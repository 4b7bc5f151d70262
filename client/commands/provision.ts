import type { Command } from 'commander';
import type { ProvisionOptions, ProvisionResult } from '../../domain/contracts';
import { ErrorCode, PgferryError } from '../../domain/errors';
import { follow } from './follow';
import { outputFor, pgferryClient, withJson, withPgferry, type CommonOptions } from './context';
import { intOption, strictFlags } from './flags';

interface ProvisionFlags extends CommonOptions {
  target?: string;
  cluster?: string;
  database?: string;
  port?: number;
  pgVersion?: number;
  wait?: boolean;
}

function optionsOf(flags: ProvisionFlags): ProvisionOptions {
  if (flags.cluster !== undefined && flags.target !== undefined) {
    throw new PgferryError(ErrorCode.InvalidInput, 'target: --target and --cluster both given', {
      field: 'target',
      fix: 'give --target URL (a database on a running server), or --cluster NAME --database DB (a new cluster), not both',
    });
  }
  if (flags.cluster !== undefined) {
    if (!flags.database) {
      throw new PgferryError(ErrorCode.InvalidInput, 'database: --cluster needs --database', {
        field: 'database',
        fix: 'add --database NAME',
      });
    }
    return {
      provider: 'local-cluster',
      cluster: flags.cluster,
      database: flags.database,
      ...(flags.port ? { port: flags.port } : {}),
      ...(flags.pgVersion ? { pgVersion: flags.pgVersion } : {}),
    };
  }
  if (!flags.target) {
    throw new PgferryError(
      ErrorCode.InvalidInput,
      'target: pass --target URL, or --cluster NAME --database DB',
      {
        field: 'target',
        fix: 'add --target postgres://USER@HOST:PORT/DB',
      },
    );
  }
  return { provider: 'local', target: flags.target };
}

/** `pgferry provision`. */
export function registerProvision(program: Command): void {
  withJson(
    strictFlags(program.command('provision'))
      .description(
        'make a target database exist (local), or a fresh local cluster with a database (local-cluster)',
      )
      .option('--target <url>', 'local: the database to create on a running server')
      .option('--cluster <name>', 'local-cluster: the name of the cluster to create on the worker host')
      .option('--database <name>', 'local-cluster: the database to create in it')
      .option('--port <n>', 'local-cluster: the port (default: a free one)', intOption('port', 1024, 65535))
      .option(
        '--pg-version <n>',
        'local-cluster: the PostgreSQL major version',
        intOption('pg-version', 12, 30),
      )
      .option('--wait', 'wait for the end and print the result'),
  ).action(async (flags: ProvisionFlags) => {
    const out = outputFor(flags);
    const { checkProvisionOptions } = await pgferryClient();
    const options = checkProvisionOptions(optionsOf(flags));
    await withPgferry(async (client) => {
      const run = await client.provision(options);
      await follow<ProvisionResult>(
        client,
        out,
        run,
        Boolean(flags.wait),
        (r) =>
          `${r.created ? 'created' : 'reused'} ${r.target} (PostgreSQL ${r.serverVersion}${r.dataDir ? `, data in ${r.dataDir}` : ''})`,
      );
    });
  });
}
