import type { Command } from 'commander';
import { Output } from '../output';
import { PgferryClient } from '../pgferry-client';

/** Options every command takes. */
export interface CommonOptions {
  json?: boolean;
}

/** The output a command's options ask for. */
export function outputFor(options: CommonOptions): Output {
  return new Output(Boolean(options.json));
}

/** Connects to Temporal for the length of one command and always closes. */
export async function withPgferry<T>(fn: (client: PgferryClient) => Promise<T>): Promise<T> {
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
