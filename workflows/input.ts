import type { z } from 'zod';
import { parseInput } from '../domain/contracts';
import { toWorkflowFailure } from './failures';

/** Parses a workflow's raw input; a bad input fails the workflow at once, non-retryable, naming the field. */
export function parseWorkflowInput<S extends z.ZodType>(schema: S, raw: unknown, what: string): z.output<S> {
  try {
    return parseInput(schema, raw, what);
  } catch (err) {
    throw toWorkflowFailure(err);
  }
}
