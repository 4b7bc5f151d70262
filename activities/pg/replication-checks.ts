import { ErrorCode, PgferryError } from '../../domain/errors';
import type { PgStep } from './errors';

// PostgreSQL's own rule for slot names (ReplicationSlotValidateName).
const SLOT_NAME = /^[a-z0-9_]{1,63}$/;
// NAMEDATALEN - 1: a longer name is silently truncated, and the existence checks would miss it.
const MAX_NAME_BYTES = 63;
const LSN = /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i;

// What a missing privilege asks of each side of replication.
const REPLICATION_PRIVILEGE_FIXES = {
  source: 'replicate as a superuser, or a role with REPLICATION that owns the tables',
  target: 'replicate as a superuser (or, on PostgreSQL 16+, a member of pg_create_subscription)',
} as const;

/** A step of replication against one side, with replication's own fix for a missing privilege. */
export function replicationStep(field: 'source' | 'target', doing: string): PgStep {
  return { field, doing, privilegeFix: REPLICATION_PRIVILEGE_FIXES[field] };
}

/** Rejects a name PostgreSQL would not take for a replication slot. */
export function checkSlotName(slot: string): void {
  if (!SLOT_NAME.test(slot)) {
    throw new PgferryError(ErrorCode.InvalidInput, 'slot: not a replication slot name', {
      field: 'slot',
      fix: 'use lower-case letters, digits and _, at most 63 characters',
    });
  }
}

/** Rejects an object name that is empty or that PostgreSQL would truncate. */
export function checkName(name: string, field: string): void {
  if (name === '' || Buffer.byteLength(name) > MAX_NAME_BYTES) {
    throw new PgferryError(ErrorCode.InvalidInput, `${field}: the name is empty or longer than 63 bytes`, {
      field,
      fix: 'use a name of 1 to 63 bytes',
    });
  }
}

/** Rejects what is not a PostgreSQL LSN (it goes into a query as a parameter, but must mean one). */
export function checkLsn(lsn: string): void {
  if (!LSN.test(lsn)) {
    throw new PgferryError(ErrorCode.InvalidInput, 'lsn: not a PostgreSQL LSN', {
      field: 'lsn',
      fix: 'pass the LSN that currentLsn returned, e.g. 0/16B3748',
    });
  }
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
