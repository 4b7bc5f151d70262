import { InvalidArgumentError } from 'commander';
import { ErrorCode, PgferryError } from '../../domain/errors';

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
