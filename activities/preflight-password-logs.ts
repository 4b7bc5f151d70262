import type { CheckOutcome } from '../domain/checks';

/** A setting of the target that could keep the CREATE SUBSCRIPTION statement, and whether the target user may SET it. */
export interface PasswordKeeper {
  readonly name: string;
  readonly setting: string;
  /** `string` for a placeholder: the module that defines it is not loaded. */
  readonly vartype: string;
  readonly maySet: boolean;
}

// log_min_error_statement levels at which a statement that fails with ERROR is logged with its text.
const ERROR_STATEMENT_LOGGED = new Set([
  'debug5',
  'debug4',
  'debug3',
  'debug2',
  'debug1',
  'info',
  'notice',
  'warning',
  'error',
]);

/** Where each setting, left on, keeps the statement: [name, is it on, where]. */
const KEEPERS: readonly (readonly [string, (value: string) => boolean, string])[] = [
  ['log_statement', (v) => v !== 'none', 'the server log'],
  ['log_min_duration_statement', (v) => v !== '-1', 'the server log when the statement is that slow'],
  ['log_min_duration_sample', (v) => v !== '-1', 'the server log, sampled'],
  ['log_transaction_sample_rate', (v) => Number(v) > 0, 'the server log, sampled'],
  ['log_min_error_statement', (v) => ERROR_STATEMENT_LOGGED.has(v), 'the server log if the statement fails'],
];

/**
 * Whether the subscription's CREATE statement, which carries the source's password, stays out of
 * the target's logs and statistics: the subscribing session turns off each setting that would keep
 * it, where the target user may. Those it may not, left on, are named: pg_stat_statements (loaded,
 * tracking utility statements) first, then the log settings.
 */
export function passwordLogsCheck(keepers: readonly PasswordKeeper[], user: string): CheckOutcome {
  const find = (name: string) => keepers.find((k) => k.name === name);
  const kept: [name: string, why: string][] = [];
  const utility = find('pg_stat_statements.track_utility');
  if (
    utility &&
    utility.vartype === 'bool' &&
    !utility.maySet &&
    utility.setting === 'on' &&
    find('pg_stat_statements.track')?.setting !== 'none'
  ) {
    kept.push([
      'pg_stat_statements',
      'pg_stat_statements (loaded, track_utility = on): its statistics keep the statement text',
    ]);
  }
  for (const [name, on, where] of KEEPERS) {
    const k = find(name);
    if (k && !k.maySet && on(k.setting)) kept.push([name, `${name} = ${k.setting}: ${where}`]);
  }
  if (kept.length === 0) {
    return {
      ok: true,
      message: `the target user "${user}" may turn off, for the session that creates the subscription, every setting that would keep its password (or none is on)`,
    };
  }
  return {
    ok: false,
    message: `the target user "${user}" may not turn off, for its session, what keeps the subscription's CREATE statement with the source's password: ${kept.map(([, why]) => why).join('; ')}`,
    items: kept.map(([name]) => name),
  };
}
