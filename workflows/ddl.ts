import type { ReplicationHealth } from '../activities/watch';
import { control, watching } from './activities';
import type { MigrationRun } from './migration-run';

/**
 * Follows the schema changes an online migration carries (--ddl apply or hold), after each watch: tables
 * created on the source that are on the target by now join the subscription (REFRESH PUBLICATION,
 * their rows copied by a table sync); and when the figures moved, every change and what became
 * of it is listed again, for status (the `ddl` detail) and the history.
 */
export async function followDdl(
  run: MigrationRun,
  health: ReplicationHealth,
  before: ReplicationHealth | undefined,
): Promise<void> {
  const { source, target, subscription, publication } = run.replication;
  const joinable = health.joinable ?? [];
  if (joinable.length > 0) {
    await control.joinNewTables({ source, target, subscription, publication, tables: joinable });
  }
  const now = health.ddl;
  if (now === undefined) return;
  const then = before?.ddl;
  const moved =
    then === undefined
      ? now.captured > 0
      : then.captured !== now.captured ||
        then.replayed !== now.replayed ||
        then.failed !== now.failed ||
        then.held?.id !== now.held?.id;
  if (!moved) return;
  run.progress.detail('ddl', await watching.listDdlChanges({ source, target, publication }));
}

/** What the watch is told of the schema changes the workflow last saw, so that it returns when they move. */
export function ddlWatchInput(
  run: MigrationRun,
  last: ReplicationHealth | undefined,
): {
  ddl?: true;
  ddlHold?: string;
  ddlSeen?: { captured: number; replayed: number; failed: number; held?: number };
} {
  if (run.input.ddl === 'refuse') return {};
  const seen = last?.ddl;
  return {
    ddl: true,
    ...(run.input.ddl === 'hold' ? { ddlHold: run.input.name } : {}),
    ...(seen
      ? {
          ddlSeen: {
            captured: seen.captured,
            replayed: seen.replayed,
            failed: seen.failed,
            ...(seen.held ? { held: seen.held.id } : {}),
          },
        }
      : {}),
  };
}
