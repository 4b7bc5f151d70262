import { InvalidArgumentError, type Command } from 'commander';
import { ErrorCode, PgferryError } from '../../domain/errors';
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

/** A commander parser for a whole number in a range, naming the option in its error. */
export function intOption(name: string, min: number, max: number): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(
        `${name}: expected a whole number from ${min} to ${max}, got "${value}"`,
      );
    }
    return n;
  };
}

/** Adds --json to a command. */
export function withJson(command: Command): Command {
  return command.option('--json', 'print one JSON document instead of text');
}

/** A flag that must be given: InvalidInput naming it otherwise. */
export function required(value: string | undefined, field: string, example: string): string {
  if (value === undefined || value === '') {
    throw new PgferryError(ErrorCode.InvalidInput, `${field}: required`, { field, fix: `add ${example}` });
  }
  return value;
}
