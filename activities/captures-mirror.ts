import type { Client } from 'pg';
import type { OnSource } from '../domain/activity-inputs';
import type { ActivityDeps } from './deps';
import { inTransaction, withClient } from './pg/connect';
import { ddlObjects, EXISTING_TABLES, mirrorCaptureSql, OTHER_CAPTURE_TABLES } from './pg/ddl-sql';
import { replicationStep } from './pg/replication-checks';
import { SqlState } from './pg/sqlstate';

/** What the mirror needs: the source, and the publication whose tables the subscription takes. */
interface MirrorInput {
  readonly source: OnSource['source'];
  readonly publication: string;
}

/**
 * Runs a statement that makes the target's subscription take the publication's tables (CREATE
 * SUBSCRIPTION, REFRESH PUBLICATION). Both fail (42P01) on a published table the target lacks,
 * and a publication FOR ALL TABLES also carries the capture tables of other online migrations of
 * the same source: when it fails so, each such table gets an inert copy on the target, and the
 * statement runs again. Any other failure, or one that no copy mends, is the statement's own.
 */
export async function withMirroredCaptures<T>(
  deps: ActivityDeps,
  input: MirrorInput,
  target: Client,
  statement: () => Promise<T>,
): Promise<T> {
  try {
    return await statement();
  } catch (err) {
    if ((err as { code?: unknown }).code !== SqlState.UndefinedTable) throw err;
    if ((await mirrorOtherCaptures(deps, input, target)).length === 0) throw err;
    return statement();
  }
}

/**
 * Gives the target an inert copy of each capture table of other online migrations of the same
 * source that the publication carries. Returns the tables made.
 */
async function mirrorOtherCaptures(
  deps: ActivityDeps,
  input: MirrorInput,
  target: Client,
): Promise<string[]> {
  const own = ddlObjects(input.publication).base;
  const published = await withClient(
    input.source,
    deps.env,
    replicationStep('source', `reading the tables of publication ${input.publication}`),
    async (c) => (await c.query<{ name: string }>(OTHER_CAPTURE_TABLES, [input.publication, own])).rows,
  );
  if (published.length === 0) return [];
  const { rows } = await target.query<{ name: string }>(EXISTING_TABLES, [published.map((r) => r.name)]);
  const present = new Set(rows.map((r) => r.name));
  const missing = published.map((r) => r.name).filter((name) => !present.has(name));
  for (const table of missing) await inTransaction(target, mirrorCaptureSql(table));
  return missing;
}
