import { ErrorCode, PgferryError } from '../../domain/errors';
import type { PgStep } from './errors';

// What a missing privilege asks of each side of replication.
const REPLICATION_PRIVILEGE_FIXES = {
  source: 'replicate as a superuser, or a role with REPLICATION that owns the tables',
  target: 'replicate as a superuser (or, on PostgreSQL 16+, a member of pg_create_subscription)',
} as const;

/** A step of replication against one side, with replication's own fix for a missing privilege. */
export function replicationStep(field: 'source' | 'target', doing: string): PgStep {
  return { field, doing, privilegeFix: REPLICATION_PRIVILEGE_FIXES[field] };
}

/** The error of a slot that the source does not have. */
export function noSlot(slot: string): PgferryError {
  return new PgferryError(
    ErrorCode.InvalidInput,
    `slot: the source has no logical replication slot ${slot}`,
    {
      field: 'slot',
      fix: 'create the slot with holdSlotSnapshot before replicating',
    },
  );
}

/** A .catch handler that swallows one SQLSTATE and rethrows anything else. */
export function ignoreCode(code: string): (err: unknown) => void {
  return (err) => {
    if ((err as { code?: unknown }).code !== code) throw err;
  };
}
