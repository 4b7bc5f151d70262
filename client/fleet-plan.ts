import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { ErrorCode, PgferryError } from '../domain/errors';
import type { PlanEntry } from '../domain/fleet';

function badPlan(file: string, message: string, fix: string, cause?: unknown): PgferryError {
  return new PgferryError(ErrorCode.InvalidInput, `plan: ${file}: ${message}`, {
    field: 'plan',
    fix,
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * Reads a fleet plan (YAML or JSON: a list of entries, or `{ databases: [...] }`), one entry per
 * database with its own `source` and `target` URL and options. Only the file's shape is checked
 * here; each entry is checked with the fleet's input, naming `plan.N.FIELD`.
 */
export async function readFleetPlan(file: string): Promise<PlanEntry[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'unreadable';
    throw badPlan(file, `cannot be read (${code})`, 'give --plan a readable YAML or JSON file', err);
  }
  let doc: unknown;
  try {
    // JSON is YAML too; one parser reads both.
    doc = parseYaml(text);
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : 'not YAML';
    throw badPlan(file, `is neither YAML nor JSON: ${why}`, 'write the plan as YAML or JSON', err);
  }
  const entries = Array.isArray(doc) ? doc : (doc as { databases?: unknown } | null)?.databases;
  if (!Array.isArray(entries) || entries.length === 0)
    throw badPlan(
      file,
      'lists no database',
      'write a list of entries (or databases: [...]), each with source and target URLs: - { source: postgres://…/a, target: postgres://…/a }',
    );
  return entries as PlanEntry[];
}
