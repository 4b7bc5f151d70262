import type { z } from 'zod';
import { ACTIVITY_INPUT_FIX } from '../domain/activity-inputs';
import { parseInput } from '../domain/contracts';

/**
 * An activity whose input is parsed at the boundary: the caller (a workflow) passes the raw shape
 * (`z.input`), `fn` receives the parsed one (`z.output`). A bad input fails InvalidInput (never
 * retried) naming the field and the fix, before `fn` touches anything.
 */
export function activity<S extends z.ZodType, R>(
  schema: S,
  fn: (input: z.output<S>) => Promise<R>,
): (input: z.input<S>) => Promise<R> {
  return async (input) => fn(parseInput(schema, input, 'activity', ACTIVITY_INPUT_FIX));
}
