import type { PruneBackupsInput } from '../domain/activity-inputs';
import { isScheduledBackupOf } from '../domain/schedule';
import { splitBackupAddress } from '../domain/storage-location';
import type { ActivityDeps } from './deps';
import { withHeartbeat } from './heartbeat';

/**
 * A backup schedule's retention: of the schedule's own backups in the location (named
 * `NAME-TIMESTAMP`; other backups sharing it are left alone), the newest `keep` stay, with the one
 * this run made always among them, and the rest are deleted, manifest first. Safe to run twice: a
 * backup deleted already is no longer listed.
 */
export async function pruneBackups(
  deps: ActivityDeps,
  input: PruneBackupsInput,
): Promise<{ kept: string[]; deleted: string[] }> {
  return withHeartbeat('deleting old backups', async (hb) => {
    const storage = deps.storageFor(input.to);
    // list() is newest first (by the manifests' start times); this run's backup goes first.
    const names = (await storage.list())
      .map((entry) => splitBackupAddress(entry.backup).name)
      .filter((name) => isScheduledBackupOf(input.schedule, name));
    const ordered = [input.protect, ...names.filter((name) => name !== input.protect)];
    const kept = ordered.slice(0, input.keep);
    const deleted: string[] = [];
    for (const name of ordered.slice(input.keep)) {
      hb.update({ detail: `deleting ${name}`, files: deleted.length });
      await storage.remove(name);
      deleted.push(name);
    }
    deps.logger.info({ location: storage.location, kept: kept.length, deleted }, 'backup retention');
    return { kept, deleted };
  });
}
