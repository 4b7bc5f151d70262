import type { Command } from 'commander';
import { Output } from '../output';
import type * as ClientLibrary from '../pgferry-client';
import type { PgferryClient } from '../pgferry-client';

/** Options every command takes. */
export interface CommonOptions {
  json?: boolean;
}

/** The output a command's options ask for. */
export function outputFor(options: CommonOptions): Output {
  return new Output(Boolean(options.json));
}

/**
 * The client library, loaded when a command first needs it: the Temporal client and the input
 * schemas are most of the CLI's start, which `--help`, `--version` and bad flags need not pay.
 */
export function pgferryClient(): Promise<typeof ClientLibrary> {
  return import('../pgferry-client.js');
}

/** Connects to Temporal for the length of one command and always closes. */
export async function withPgferry<T>(fn: (client: PgferryClient) => Promise<T>): Promise<T> {
  const { PgferryClient } = await pgferryClient();
  const client = await PgferryClient.connect();
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** Adds --json to a command. */
export function withJson(command: Command): Command {
  return command.option('--json', 'print one JSON document instead of text');
}
