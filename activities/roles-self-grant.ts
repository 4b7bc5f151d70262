import type { Client } from 'pg';
import type { RolesReport } from '../domain/roles';
import { actAsGrantSql, roleStandingSql } from './pg/roles-sql';

/**
 * Lets a target user who is not superuser act as the roles it copied or aligned: it grants itself
 * SET and INHERIT on each (PostgreSQL 16+, where it holds only ADMIN on the roles it created), or
 * membership before 16. Without it, pg_restore's ALTER … OWNER TO fails ("must be able to SET
 * ROLE"), the owners' GRANTs cannot be given, and a subscription cannot apply as a table's owner:
 * ownership and ACLs would be lost. A role it cannot grant itself (no ADMIN on it, or a superuser
 * role) is reported in notGranted, never skipped silently. Changes nothing for a superuser.
 */
export async function grantSelfRoles(
  dst: Client,
  roles: readonly string[],
  powers: { readonly name: string; readonly superuser: boolean; readonly major: number },
  report: RolesReport,
): Promise<void> {
  if (powers.superuser || roles.length === 0) return;
  const { rows } = await dst.query<{ name: string; acts: boolean; can: boolean }>(
    roleStandingSql(powers.major),
    [roles],
  );
  for (const role of rows.filter((r) => !r.acts)) {
    const what = `${powers.major >= 16 ? 'SET and INHERIT on' : 'membership in'} ${role.name} for ${powers.name}`;
    if (!role.can) {
      report.notGranted.push({
        role: role.name,
        what,
        why: `${powers.name} may not grant ${role.name} to itself: objects owned by ${role.name} cannot be given to it (${actAsGrantSql(role.name, powers.name, powers.major)}, as a role that may)`,
      });
      continue;
    }
    await dst.query(actAsGrantSql(role.name, 'CURRENT_USER', powers.major));
    report.memberships.push(`${powers.name} in ${role.name}${powers.major >= 16 ? ' (set, inherit)' : ''}`);
  }
}
