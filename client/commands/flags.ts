import { InvalidArgumentError, type Command } from 'commander';
import { ErrorCode, PgferryError } from '../../domain/errors';

/**
 * Wraps a commander option parser so that a refused value is InvalidInput naming the flag and the
 * fix (exit 2, as every bad input), instead of commander's own error, which names neither.
 */
export function flag<T>(field: string, fix: string, parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (err) {
      if (!(err instanceof InvalidArgumentError)) throw err;
      const message = err.message.startsWith(`${field}:`) ? err.message : `${field}: ${err.message}`;
      throw new PgferryError(ErrorCode.InvalidInput, message, { field, fix, cause: err });
    }
  };
}

/** A commander parser for a whole number in a range, naming the option in its error. */
export function intOption(name: string, min: number, max: number): (value: string) => number {
  return flag(name, `give --${name} a whole number from ${min} to ${max}`, (value: string) => {
    const n = Number(value);
    // Number() would also take "0x10", "1e1" and "": a count is written in decimal digits.
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(
        `${name}: expected a whole number from ${min} to ${max}, got "${value}"`,
      );
    }
    return n;
  });
}

/** A commander parser for one of `allowed`, naming the option in its error. */
export function choice<T extends string>(name: string, allowed: readonly T[]): (value: string) => T {
  return flag(name, `give --${name} one of ${allowed.join(', ')}`, (value) => {
    if (!(allowed as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`${name}: expected one of ${allowed.join(', ')}, got "${value}"`);
    }
    return value as T;
  });
}

/** A flag that must be given: InvalidInput naming it otherwise. */
export function required(value: string | undefined, field: string, example: string): string {
  if (value === undefined || value === '') {
    throw new PgferryError(ErrorCode.InvalidInput, `${field}: required`, { field, fix: `add ${example}` });
  }
  return value;
}

/** A required database URL flag (`--source` or `--target`); the fix shows the URL's form. */
export function requiredUrl(value: string | undefined, field: 'source' | 'target'): string {
  return required(value, field, `--${field} postgres://USER@HOST:PORT/DB`);
}

/**
 * Makes a command refuse options and arguments it does not know as InvalidInput naming them (exit
 * 2), before its action runs: commander's own refusal names no field and no fix. Commander puts an
 * unknown option, and everything after it, behind the command's declared arguments.
 */
export function strictFlags(command: Command): Command {
  return command
    .allowUnknownOption()
    .allowExcessArguments()
    .hook('preAction', (_program, action) => {
      const extra = action.args.slice(action.registeredArguments.length);
      const first = extra[0];
      if (first === undefined) return;
      // A subcommand (`ddl approve`) is named with its parent command.
      const name = action.parent?.parent ? `${action.parent.name()} ${action.name()}` : action.name();
      const usage = `see \`pgferry ${name} --help\` for what it takes`;
      if (first.startsWith('-')) {
        const field = first.replace(/^-+/, '').replace(/=.*$/, '');
        throw new PgferryError(
          ErrorCode.InvalidInput,
          `${field}: pgferry ${name} has no option ${first.replace(/=.*$/, '')}`,
          {
            field,
            fix: usage,
          },
        );
      }
      throw new PgferryError(ErrorCode.InvalidInput, `arguments: unexpected argument "${first}"`, {
        field: 'arguments',
        fix: usage,
      });
    });
}
