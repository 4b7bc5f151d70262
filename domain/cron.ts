/**
 * Cron expressions as pgferry's schedules take them: five fields (minute hour day-of-month month
 * day-of-week, in UTC) or a macro. Checked here so that a bad one is refused with its field and a
 * fix before any schedule exists; Temporal parses the same expression again when it is created.
 */

/** How a cron expression is written, for an error's fix. */
export const CRON_FIX =
  'write five fields, minute hour day-of-month month day-of-week (UTC), such as "0 3 * * *" for 03:00 every day, or one of @hourly, @daily, @weekly, @monthly, @yearly';

const MACROS = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

interface Field {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  /** Names standing for values, the first for `min`. */
  readonly names?: readonly string[];
}

const FIELDS: readonly Field[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  { name: 'day-of-week', min: 0, max: 6, names: DAYS },
];

function valueOf(token: string, field: Field): number | undefined {
  const named = field.names?.indexOf(token.toLowerCase()) ?? -1;
  if (named >= 0) return field.min + named;
  if (!/^\d+$/.test(token)) return undefined;
  const n = Number(token);
  return n >= field.min && n <= field.max ? n : undefined;
}

/** What is wrong with one item of a field (`*`, `5`, `1-5`, `mon-fri`, each with an optional `/STEP`), or undefined. */
function itemProblem(item: string, field: Field): string | undefined {
  const [range = '', step, extra] = item.split('/');
  if (extra !== undefined || (step !== undefined && !/^[1-9]\d*$/.test(step))) {
    return `"${item}" has a bad step (write */N or A-B/N with N ≥ 1)`;
  }
  if (range === '*') return undefined;
  const [from = '', to, more] = range.split('-');
  const a = valueOf(from, field);
  const b = to === undefined ? a : valueOf(to, field);
  const bounds = `${field.min}-${field.max}${field.names ? ` or ${field.names[0]}-${field.names.at(-1)}` : ''}`;
  if (more !== undefined || a === undefined || b === undefined) {
    return `"${item}" is out of range (${bounds})`;
  }
  if (b < a) return `"${item}" is a range that runs backwards`;
  return undefined;
}

/** What is wrong with a cron expression, or undefined when pgferry's schedules take it. */
export function cronProblem(expression: string): string | undefined {
  const text = expression.trim();
  if (text.startsWith('@')) {
    return MACROS.includes(text.toLowerCase()) ? undefined : `"${text}" is not a cron macro`;
  }
  const parts = text.split(/\s+/).filter((p) => p !== '');
  if (parts.length !== FIELDS.length) {
    return `"${text}" has ${parts.length} field${parts.length === 1 ? '' : 's'}, not ${FIELDS.length}`;
  }
  for (const [i, part] of parts.entries()) {
    const field = FIELDS[i] as Field;
    for (const item of part.split(',')) {
      const problem = itemProblem(item, field);
      if (problem) return `${field.name} ${problem}`;
    }
  }
  return undefined;
}
