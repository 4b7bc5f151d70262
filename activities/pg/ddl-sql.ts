import { ddlCaptureName } from '../../domain/names';
import { quoteIdent, quoteLiteral } from './connect';
import { LEDGER_SCHEMA } from './ledger-sql';

/**
 * Schema changes (DDL) on the source of an online migration, carried in order with the data.
 * PostgreSQL's logical replication carries no DDL: event triggers on the source write each
 * statement into a table of pgferry's, which is in the publication (FOR ALL TABLES) like any
 * other, so its rows travel in the change stream at the commit of the statement's transaction. On
 * the target the same table has a row trigger enabled ALWAYS (it fires in the apply worker, whose
 * session_replication_role is replica) that runs the statement inside the apply transaction:
 * rows written after a new column exist apply after the column does.
 */

const SCHEMA = quoteIdent(LEDGER_SCHEMA);

/** The names of one migration's capture objects. */
export interface DdlObjects {
  /** The base name (domain/names.ts ddlCaptureName). */
  readonly base: string;
  /** pgferry.BASE, quoted. */
  readonly table: string;
  /** The same, as a text literal for to_regclass. */
  readonly tableLiteral: string;
  /** pgferry.BASE_approved, quoted: on the target, the held changes a person approved (--ddl hold). */
  readonly approvals: string;
}

/** The capture objects of the migration whose replication objects are named `replicationName`. */
export function ddlObjects(replicationName: string): DdlObjects {
  const base = ddlCaptureName(replicationName);
  const table = `${SCHEMA}.${quoteIdent(base)}`;
  const approvals = `${SCHEMA}.${quoteIdent(`${base}_approved`)}`;
  return { base, table, tableLiteral: quoteLiteral(table), approvals };
}

/** Statements never carried: the replication's own objects, which belong to each server. */
const OWN_TAGS = [
  'CREATE PUBLICATION',
  'ALTER PUBLICATION',
  'DROP PUBLICATION',
  'CREATE SUBSCRIPTION',
  'ALTER SUBSCRIPTION',
  'DROP SUBSCRIPTION',
]
  .map(quoteLiteral)
  .join(', ');

/**
 * Whether the command in a ddl_command_end trigger concerns only what is no part of the database
 * to carry: temporary objects, members of an extension (CREATE EXTENSION carries them), pgferry's
 * own schema. DROP commands list no object here: the sql_drop trigger decides them.
 */
const ONLY_OWN_OBJECTS = `
  NOT EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() c
               WHERE NOT c.in_extension
                 AND coalesce(c.schema_name, '') NOT LIKE 'pg\\_temp%'
                 AND coalesce(c.schema_name, '') <> ${quoteLiteral(LEDGER_SCHEMA)})`;

/** The same for the objects a sql_drop trigger sees dropped. */
const DROPS_ONLY_OWN = `
  NOT EXISTS (SELECT 1 FROM pg_event_trigger_dropped_objects() d
               WHERE NOT d.is_temporary
                 AND coalesce(d.schema_name, '') <> ${quoteLiteral(LEDGER_SCHEMA)})`;

/** A statement run by pgferry itself (its sessions name themselves so), or about replication objects. */
const NOT_CARRIED = `current_setting('application_name') = 'pgferry' OR tg_tag IN (${OWN_TAGS})`;

/**
 * The capture on the source (policy apply): the table, the functions and two event triggers. The
 * sql_drop trigger marks, for the end of the same command, a drop of temporary objects only. A
 * query text that holds several statements fires the trigger once per statement: it is recorded
 * once per transaction (replayed whole, it runs them all).
 */
export function installCaptureSql(o: DdlObjects): string[] {
  const skip = quoteLiteral(`pgferry.${o.base}_skip`);
  return [
    `CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`,
    `CREATE TABLE IF NOT EXISTS ${o.table} (
       id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
       xid bigint NOT NULL DEFAULT txid_current(),
       tag text NOT NULL,
       objects text,
       statement text NOT NULL,
       search_path text NOT NULL,
       captured_by text NOT NULL DEFAULT current_user,
       captured_at timestamptz NOT NULL DEFAULT clock_timestamp(),
       status text NOT NULL DEFAULT 'captured',
       error text,
       applied_at timestamptz
     )`,
    `COMMENT ON TABLE ${o.table} IS 'pgferry: schema changes captured during an online migration; removed when it ends'`,
    `CREATE OR REPLACE FUNCTION ${SCHEMA}.${quoteIdent(`${o.base}_drop`)}() RETURNS event_trigger
       LANGUAGE plpgsql AS $pgferry$
     BEGIN
       IF ${DROPS_ONLY_OWN} THEN PERFORM set_config(${skip}, 'on', true); END IF;
     END $pgferry$`,
    // SECURITY DEFINER: a statement of any user is recorded (pgferry's schema is not theirs to
    // write). The session's search_path is read first, with qualified names only, then the body
    // runs on pg_catalog alone (a caller's search_path cannot lend it functions or operators), and
    // the session's is set back. captured_by: the role the statement ran as (SET ROLE included).
    `CREATE OR REPLACE FUNCTION ${SCHEMA}.${quoteIdent(`${o.base}_capture`)}() RETURNS event_trigger
       LANGUAGE plpgsql SECURITY DEFINER AS $pgferry$
     DECLARE
       path text := pg_catalog.current_setting('search_path');
       who text;
     BEGIN
       PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
       <<capture>>
       BEGIN
         IF current_setting(${skip}, true) = 'on' THEN
           PERFORM set_config(${skip}, '', true);
           EXIT capture;
         END IF;
         IF ${NOT_CARRIED} THEN EXIT capture; END IF;
         IF tg_tag NOT LIKE 'DROP %' AND ${ONLY_OWN_OBJECTS} THEN EXIT capture; END IF;
         IF EXISTS (SELECT 1 FROM ${o.table} WHERE xid = txid_current() AND statement = current_query()) THEN
           EXIT capture;
         END IF;
         who := CASE current_setting('role') WHEN 'none' THEN session_user ELSE current_setting('role') END;
         INSERT INTO ${o.table} (tag, objects, statement, search_path, captured_by)
         SELECT tg_tag, string_agg(DISTINCT c.object_identity, ', '), current_query(), path, who
           FROM (SELECT 1) one LEFT JOIN pg_event_trigger_ddl_commands() c ON NOT c.in_extension;
       END capture;
       PERFORM set_config('search_path', path, true);
     END $pgferry$`,
    `CREATE EVENT TRIGGER ${quoteIdent(`${o.base}_drop`)} ON sql_drop
       EXECUTE FUNCTION ${SCHEMA}.${quoteIdent(`${o.base}_drop`)}()`,
    `CREATE EVENT TRIGGER ${quoteIdent(`${o.base}_end`)} ON ddl_command_end
       EXECUTE FUNCTION ${SCHEMA}.${quoteIdent(`${o.base}_capture`)}()`,
  ];
}

/**
 * The refusal on the source (policy refuse): the same two events raise an error that names pgferry
 * and the migration, so the statement and its transaction are rolled back. Temporary objects are
 * still allowed, as are pgferry's own statements.
 */
export function installRefusalSql(o: DdlObjects, migration: string): string[] {
  const refuse = `${SCHEMA}.${quoteIdent(`${o.base}_refuse`)}`;
  const message = quoteLiteral(
    `pgferry: %s refused: migration ${migration} replicates this database online with --ddl refuse; schema changes wait until it ends`,
  );
  const hint = quoteLiteral(
    `approve or reject migration ${migration} first, or run it with --ddl apply to carry schema changes`,
  );
  return [
    `CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`,
    `CREATE OR REPLACE FUNCTION ${refuse}() RETURNS event_trigger LANGUAGE plpgsql AS $pgferry$
     BEGIN
       IF ${NOT_CARRIED} THEN RETURN; END IF;
       IF tg_event = 'sql_drop' THEN
         IF ${DROPS_ONLY_OWN} THEN RETURN; END IF;
       ELSIF tg_tag LIKE 'DROP %' OR ${ONLY_OWN_OBJECTS} THEN
         RETURN;
       END IF;
       RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
         MESSAGE = format(${message}, tg_tag), HINT = ${hint};
     END $pgferry$`,
    `CREATE EVENT TRIGGER ${quoteIdent(`${o.base}_drop`)} ON sql_drop EXECUTE FUNCTION ${refuse}()`,
    `CREATE EVENT TRIGGER ${quoteIdent(`${o.base}_end`)} ON ddl_command_end EXECUTE FUNCTION ${refuse}()`,
  ];
}

/** Whether the capture's event triggers exist on the source. $1 the base name. */
export const CAPTURE_EXISTS = `
  SELECT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname IN ($1 || '_end', $1 || '_drop')) AS present`;

/**
 * Removes the capture from the source (or the replay from the target): event triggers first, so
 * that nothing is captured while the rest goes; pgferry's schema too when nothing else is in it
 * (on the target the copy's ledger may still be).
 */
export function removeCaptureSql(o: DdlObjects): string[] {
  const fn = (suffix: string) => `${SCHEMA}.${quoteIdent(`${o.base}_${suffix}`)}`;
  return [
    `DROP EVENT TRIGGER IF EXISTS ${quoteIdent(`${o.base}_end`)}`,
    `DROP EVENT TRIGGER IF EXISTS ${quoteIdent(`${o.base}_drop`)}`,
    `DROP TABLE IF EXISTS ${o.table}`,
    `DROP TABLE IF EXISTS ${o.approvals}`,
    `DROP FUNCTION IF EXISTS ${fn('capture')}(), ${fn('drop')}(), ${fn('refuse')}(), ${fn('replay')}()`,
    `DO $pgferry$ BEGIN
       IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = ${quoteLiteral(LEDGER_SCHEMA)})
          AND NOT EXISTS (SELECT 1 FROM pg_depend d JOIN pg_namespace n ON n.oid = d.refobjid
                           WHERE d.refclassid = 'pg_namespace'::regclass AND n.nspname = ${quoteLiteral(LEDGER_SCHEMA)}) THEN
         DROP SCHEMA ${SCHEMA};
       END IF;
     END $pgferry$`,
  ];
}

/** SQLSTATEs of a CREATE whose object is there already, of a DROP whose object is gone: the target is as meant. */
const ALREADY_SO = {
  create: ['42P07', '42710', '42701', '42P06'],
  drop: ['42P01', '42704', '42703', '3F000'],
};

/**
 * The replay on the target: the same table (without identity: the ids come from the source), and
 * a BEFORE INSERT trigger enabled ALWAYS that runs the statement with the source session's
 * search_path, in a subtransaction: a statement that fails is recorded as failed with its error
 * (the workflow holds the gate, naming it), and replication goes on. A CREATE of what exists, or
 * a DROP of what is gone, is recorded as skipped (an index built by post-data from a source that
 * had it already). CONCURRENTLY cannot run in a transaction: the index is built plainly (on the
 * target only the apply worker writes). With `hold` (the migration's name, --ddl hold), a change
 * runs only once a person has approved it (holdUntilApprovedSql).
 */
export function installReplaySql(o: DdlObjects, hold?: string): string[] {
  const replay = `${SCHEMA}.${quoteIdent(`${o.base}_replay`)}`;
  const codes = (list: string[]) => list.map(quoteLiteral).join(', ');
  return [
    `CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`,
    replayTableSql(o.table),
    ...(hold === undefined ? [] : approvalsTableSql(o)),
    `CREATE OR REPLACE FUNCTION ${replay}() RETURNS trigger LANGUAGE plpgsql AS $pgferry$
     DECLARE
       stmt text := NEW.statement;
     BEGIN
       ${hold === undefined ? '' : holdUntilApprovedSql(o, hold)}
       IF NEW.tag IN ('CREATE INDEX', 'DROP INDEX') THEN
         stmt := regexp_replace(stmt, '^(\\s*(create\\s+(unique\\s+)?index|drop\\s+index))\\s+concurrently\\M', '\\1', 'i');
       END IF;
       BEGIN
         PERFORM set_config('search_path', NEW.search_path, true);
         EXECUTE stmt;
         NEW.status := 'applied';
       EXCEPTION WHEN OTHERS THEN
         NEW.error := SQLSTATE || ': ' || SQLERRM;
         NEW.status := CASE
           WHEN NEW.tag LIKE 'CREATE %' AND SQLSTATE IN (${codes(ALREADY_SO.create)}) THEN 'skipped'
           WHEN NEW.tag LIKE 'DROP %' AND SQLSTATE IN (${codes(ALREADY_SO.drop)}) THEN 'skipped'
           ELSE 'failed' END;
       END;
       PERFORM set_config('search_path', '', true);
       NEW.applied_at := clock_timestamp();
       RETURN NEW;
     END $pgferry$`,
    `DROP TRIGGER IF EXISTS ${quoteIdent(`${o.base}_replay`)} ON ${o.table}`,
    `CREATE TRIGGER ${quoteIdent(`${o.base}_replay`)} BEFORE INSERT ON ${o.table}
       FOR EACH ROW EXECUTE FUNCTION ${replay}()`,
    `ALTER TABLE ${o.table} ENABLE ALWAYS TRIGGER ${quoteIdent(`${o.base}_replay`)}`,
  ];
}

/** The target's table of approved changes (--ddl hold): written by approveDdlChange, read by the replay. */
function approvalsTableSql(o: DdlObjects): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${o.approvals} (
       id bigint PRIMARY KEY, approved_by text NOT NULL, reason text NOT NULL,
       approved_at timestamptz NOT NULL DEFAULT clock_timestamp()
     )`,
    `COMMENT ON TABLE ${o.approvals} IS 'pgferry: schema changes a person approved for the target (--ddl hold); removed when the migration ends'`,
  ];
}

/**
 * The replay's first step under --ddl hold: a change nobody has approved raises an error, so the
 * apply worker's transaction fails and PostgreSQL retries it (every wal_retrieve_retry_interval):
 * replication waits at exactly this change, the rows after it keep their order, and the approval
 * (a row in the approvals table) lets the next retry run it. Waiting inside the trigger instead
 * would hold the apply worker past wal_sender_timeout.
 */
function holdUntilApprovedSql(o: DdlObjects, migration: string): string {
  const name = migration.replace(/%/g, '%%');
  const message = quoteLiteral(
    `pgferry: schema change #%s (%s) waits for a person's approval (migration ${name}, --ddl hold); replication waits here`,
  );
  const hint = quoteLiteral(`pgferry ddl approve ${name} --change %s --as WHO --reason TEXT`);
  return `IF NOT EXISTS (SELECT 1 FROM ${o.approvals} WHERE id = NEW.id) THEN
         RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
           MESSAGE = format(${message}, NEW.id, NEW.tag), HINT = format(${hint}, NEW.id);
       END IF;`;
}

/** The changes the source captured after `$1`, oldest first, at most `$2` (the held one is among them). */
export function capturedHeadSql(o: DdlObjects): string {
  return `SELECT d.id::text AS id, tag, statement FROM ${o.table} d WHERE d.id > $1::bigint ORDER BY d.id LIMIT $2`;
}

/** The approvals recorded on the target, with who, why and when (ISO 8601). */
export function approvalsSql(o: DdlObjects): string {
  return `SELECT id::text AS id, approved_by, reason, to_json(approved_at) #>> '{}' AS approved_at FROM ${o.approvals} ORDER BY id`;
}

/** Records an approval (once: a second for the same change inserts nothing). $1 id, $2 by, $3 reason. */
export function approveSql(o: DdlObjects): string {
  return `INSERT INTO ${o.approvals} (id, approved_by, reason) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`;
}

/** A capture table's shape on the target (without identity: the ids come from the source). `table` quoted. */
function replayTableSql(table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${table} (
       id bigint PRIMARY KEY, xid bigint, tag text, objects text, statement text, search_path text,
       captured_by text, captured_at timestamptz, status text, error text, applied_at timestamptz
     )`;
}

/**
 * The capture tables of other online migrations of the same source, which this migration's
 * publication carries too (FOR ALL TABLES), and which a subscription needs on the target (CREATE
 * SUBSCRIPTION and REFRESH PUBLICATION fail on a published table the target lacks). $1
 * publication, $2 this migration's own capture table's name (not quoted).
 */
export const OTHER_CAPTURE_TABLES = `
  SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_publication_tables
   WHERE pubname = $1 AND schemaname = ${quoteLiteral(LEDGER_SCHEMA)}
     AND tablename LIKE 'pgferry\\_ddl\\_%' AND tablename <> $2`;

/**
 * An inert copy on the target of another migration's capture table (`table` as
 * OTHER_CAPTURE_TABLES names it): no trigger, so the other migration's changes that arrive in it
 * run nowhere; it goes with pgferry's schema when this migration ends.
 */
export function mirrorCaptureSql(table: string): string[] {
  return [
    `CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`,
    replayTableSql(table),
    `COMMENT ON TABLE ${table} IS 'pgferry: another online migration''s capture of schema changes on the same source, held inert for this migration''s subscription'`,
  ];
}

/**
 * The status of a change replayed on the target, or `pending` while only the source has it (with
 * --ddl hold: `held` until a person approves it, then `approved` until it is replayed).
 */
export type DdlStatus = 'applied' | 'skipped' | 'failed' | 'resolved' | 'pending' | 'held' | 'approved';

/** One captured change as pgferry lists it. */
export interface DdlRow {
  readonly id: string;
  readonly tag: string;
  readonly objects: string | null;
  readonly statement: string;
  readonly captured_at: string;
  readonly status: string;
  readonly error: string | null;
}

/** The changes replayed on the target (all of them: the rows came from the source). */
export function replayedSql(o: DdlObjects): string {
  return `SELECT d.id::text AS id, tag, objects, statement, captured_at::text, status, error
            FROM ${o.table} d ORDER BY d.id`;
}

/** The changes the source captured after `$1` (not yet on the target). */
export function capturedAfterSql(o: DdlObjects): string {
  return `SELECT d.id::text AS id, tag, objects, statement, captured_at::text, 'pending' AS status, NULL AS error
            FROM ${o.table} d WHERE d.id > $1::bigint ORDER BY d.id`;
}

/** The source's capture in figures: the last id. */
export function lastCapturedSql(o: DdlObjects): string {
  return `SELECT coalesce(max(id), 0)::text AS last FROM ${o.table}`;
}

/** The target's replay in figures: the last id replayed, how many failed, and the first failed one. */
export function replaySummarySql(o: DdlObjects): string {
  return `SELECT coalesce(max(id), 0)::text AS last,
                 count(*) FILTER (WHERE status = 'failed')::int AS failed,
                 (SELECT row_to_json(f) FROM (SELECT d.id::text AS id, tag, statement, error FROM ${o.table} d
                                               WHERE status = 'failed' ORDER BY d.id LIMIT 1) f) AS first_failed
            FROM ${o.table}`;
}

/** Whether a table exists. $1 its name as text. */
export const TABLE_EXISTS = 'SELECT to_regclass($1) IS NOT NULL AS present';

/** The tables the publication lists on the source. $1 publication. */
export const PUBLISHED_TABLES = `
  SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_publication_tables WHERE pubname = $1`;

/** The tables the subscription has on the target, with their state (r: ready). $1 subscription. */
export const SUBSCRIBED_TABLES = `
  SELECT format('%I.%I', n.nspname, c.relname) AS name, r.srsubstate AS state
    FROM pg_subscription_rel r
    JOIN pg_subscription s ON s.oid = r.srsubid
    JOIN pg_class c ON c.oid = r.srrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE s.subname = $1 AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`;

/** Of the given table names, those that exist. $1 text[]. */
export const EXISTING_TABLES = `SELECT t.name FROM unnest($1::text[]) AS t(name) WHERE to_regclass(t.name) IS NOT NULL`;

/**
 * Makes the subscription take the tables published since it was made (created on the source and
 * now on the target), their rows copied by a table sync. Not in a transaction block.
 */
export function refreshSubscriptionSql(subscription: string): string {
  return `ALTER SUBSCRIPTION ${quoteIdent(subscription)} REFRESH PUBLICATION WITH (copy_data = true)`;
}
