import { z } from 'zod';

/**
 * What happens to the source server's roles: `copy` them to the target (created or aligned,
 * without passwords unless asked) before the schema, `skip` them (they are the user's to create),
 * or, for a fleet, copy them `only` and end.
 */
export const RolesPolicy = z.enum(['copy', 'skip', 'only']);
/** What happens to the source server's roles. */
export type RolesPolicy = z.infer<typeof RolesPolicy>;

/** Something the target user could not grant: the role, what was asked, and why it was refused. */
export const NotGranted = z.object({
  role: z.string(),
  /** An attribute (SUPERUSER, REPLICATION, BYPASSRLS, …), a setting, a membership or an owner. */
  what: z.string(),
  why: z.string(),
});
/** Something the target user could not grant. */
export type NotGranted = z.infer<typeof NotGranted>;

/**
 * What copyRoles did on the target: the roles it created, those it changed (and how), the
 * memberships and settings it added, and what it could not grant. A second run over the same
 * servers lists nothing created or changed.
 */
export const RolesReport = z.object({
  /** The source server, as `host:port`, and the target server. */
  source: z.string(),
  target: z.string(),
  /** How many roles the source has that pgferry copies (predefined and bootstrap roles aside). */
  roles: z.number(),
  created: z.array(z.string()),
  /** `role: what changed`, e.g. `app: CREATEDB, CONNECTION LIMIT 10`. */
  changed: z.array(z.string()),
  /** Memberships granted: `member in role` (with `(admin)` when with ADMIN OPTION). */
  memberships: z.array(z.string()),
  /** Settings set: `role: name`, `role in database: name`, or `database: name`. */
  settings: z.array(z.string()),
  /** Roles whose password was set (with passwords asked for). */
  passwords: z.array(z.string()),
  notGranted: z.array(NotGranted),
});
/** What copyRoles did on the target. */
export type RolesReport = z.infer<typeof RolesReport>;
