/**
 * The reverse replication of a fallback window: after the cutover, the new primary (the target)
 * publishes its changes and the old source subscribes to them, so that a fallback loses no write.
 * No loop can form: the forward subscription is dropped before the reverse slot is made (at the
 * cutover, while the source is frozen and the target drained, so nothing writes to the target),
 * the reverse replication copies nothing (copy_data = false), and on a PostgreSQL 16+ old source
 * it takes only changes that did not arrive by replication themselves (origin = none).
 */
import type { TableRef } from '../../domain/tables';
import { quoteIdent, quoteLiteral, tableSql } from './connect';
import { stringLiteral } from './replication-sql';

/** The first major whose subscriptions take `origin` (none: skip changes that came by replication). */
export const ORIGIN_NONE_MAJOR = 16;

/**
 * The target's publication of the user's tables (listTables: pgferry's own schema left out, which
 * the old source does not have, and CREATE SUBSCRIPTION there would fail on it). A list, not FOR
 * ALL TABLES: a table the target gains in the window has no twin on the old source; a list needs
 * only the tables' ownership, not superuser. No table: an empty publication.
 */
export function reversePublicationSql(publication: string, tables: readonly TableRef[]): string {
  const list = tables.map((t) => tableSql(t)).join(', ');
  return `CREATE PUBLICATION ${quoteIdent(publication)}${list === '' ? '' : ` FOR TABLE ${list}`}`;
}

/**
 * The reverse slot on the target, made after the publication (pgoutput reads the publication as
 * of each change it decodes: a change older than the publication would fail it) and before any
 * application writes there. $1 slot.
 */
export const CREATE_REVERSE_SLOT =
  "SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')";

/** Whether a logical slot of this name exists in this database. $1 slot. */
export const REVERSE_SLOT_EXISTS = `
  SELECT EXISTS (SELECT 1 FROM pg_replication_slots
                  WHERE slot_name = $1 AND database = current_database()) AS present`;

/**
 * The old source's subscription to the target's publication, from the slot made at the cutover:
 * copy_data = false (the old source has every row up to the slot's start: it was frozen there),
 * create_slot = false (the slot exists, and must be where replication starts); origin = none on
 * 16+ (loops are impossible anyway: see the module's comment).
 */
export function reverseSubscriptionSql(options: {
  subscription: string;
  conninfo: string;
  publication: string;
  slot: string;
  originNone: boolean;
}): string {
  const origin = options.originNone ? ', origin = none' : '';
  return `CREATE SUBSCRIPTION ${quoteIdent(options.subscription)}
    CONNECTION ${stringLiteral(options.conninfo)}
    PUBLICATION ${quoteIdent(options.publication)}
    WITH (copy_data = false, create_slot = false, slot_name = ${quoteLiteral(options.slot)}, enabled = true${origin})`;
}
