import type { RolesReport } from './roles';

// Apart from domain/roles.ts (zod): the CLI prints reports without loading a schema library.

/** A roles report in lines, for the CLI's result and status. */
export function describeRoles(r: RolesReport): string[] {
  const list = (items: readonly string[]) => (items.length === 0 ? 'none' : items.join(', '));
  return [
    `roles ${r.source} → ${r.target}: ${r.roles} on the source; created ${list(r.created)}; changed ${list(r.changed)}`,
    ...(r.memberships.length > 0 ? [`  memberships granted: ${list(r.memberships)}`] : []),
    ...(r.settings.length > 0 ? [`  settings set: ${list(r.settings)}`] : []),
    ...(r.passwords.length > 0 ? [`  passwords set: ${list(r.passwords)}`] : []),
    ...r.notGranted.map((n) => `  NOT GRANTED ${n.role}: ${n.what} (${n.why})`),
  ];
}
