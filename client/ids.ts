import { createHash } from 'node:crypto';
import { WorkflowIdPrefix } from '../domain/constants';

/** A compact UTC timestamp for ids and backup names: 20261126T114400123Z. */
export function stamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace('.', '');
}

/**
 * Makes a database or cluster name safe for ids and file names. When characters had to be
 * replaced or the name cut, a short hash of the original keeps different names apart.
 */
export function slug(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^[^A-Za-z0-9]+/, '') || 'db';
  if (cleaned === name && cleaned.length <= 39) return cleaned;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${cleaned.slice(0, 30)}-${hash}`;
}

/** The id of a new backup workflow; the backup's name is the id without the prefix. */
export function backupWorkflowId(database: string, now: Date): string {
  return `${WorkflowIdPrefix.backup}${slug(database)}-${stamp(now)}`;
}

/** The id of a new restore workflow. */
export function restoreWorkflowId(database: string, now: Date): string {
  return `${WorkflowIdPrefix.restore}${slug(database)}-${stamp(now)}`;
}

/** The id of a provision workflow: one per target, so that running it again attaches. */
export function provisionWorkflowId(target: string): string {
  return `${WorkflowIdPrefix.provision}${slug(target)}`;
}

/** The id of a migration: `migration-NAME`; a full id is accepted as it is. */
export function migrationWorkflowId(nameOrId: string): string {
  return nameOrId.startsWith(WorkflowIdPrefix.migration)
    ? nameOrId
    : `${WorkflowIdPrefix.migration}${nameOrId}`;
}

/** The id of a preflight run. */
export function preflightWorkflowId(label: string, now: Date): string {
  return `${WorkflowIdPrefix.preflight}${slug(label)}-${stamp(now)}`;
}
