import type { RolesReport } from '../domain/roles';
import { control } from './activities';
import type { MigrationRun } from './migration-run';

/**
 * Roles (with roles copy), once the target database exists and before the schema names them: the
 * source server's roles created or aligned on the target, with the migrated database's owner,
 * privileges and role settings. Nothing of it is rolled back: roles belong to the server, and a
 * fleet's other members (or the user) may already count on them.
 */
export async function copyRolesOf(run: MigrationRun): Promise<{ roles?: RolesReport }> {
  const { input } = run;
  if (input.roles !== 'copy') return {};
  const roles = await control.copyRoles({
    source: input.source,
    target: input.target,
    passwords: input.rolePasswords,
    database: true,
  });
  run.progress.detail('roles', roles);
  return { roles };
}
