import { z } from 'zod';
import { BYTE_SIZE_EXAMPLES, parseByteSize } from './byte-size';
import { sameDatabase, tryParseConnectionUrl } from './connection';
import { ConnectionUrl, Jobs, SafeName } from './contracts';
import { MAX_NOTIFY_TARGETS, NotifyTarget } from './notify';
import { RolesPolicy, RolesReport } from './roles';
import { TableRef } from './tables';

/** `offline`: copy once while the source is quiet; `online`: snapshot copy, then replicate until cutover. */
export const MigrationMode = z.enum(['offline', 'online']);
/** The migration mode. */
export type MigrationMode = z.infer<typeof MigrationMode>;

/** How the target is proven equal to the source. */
export const ValidateLevel = z.enum(['none', 'counts', 'checksums']);
/** How the target is proven equal to the source. */
export type ValidateLevel = z.infer<typeof ValidateLevel>;

/**
 * Online: what happens to a schema change (DDL) made on the source while the migration replicates.
 * `apply`: captured in order with the data and replayed on the target at the same point of the
 * change stream; `refuse`: the source rejects it, naming pgferry and the migration.
 */
export const DdlPolicy = z.enum(['apply', 'hold', 'refuse']);
/** What happens to a schema change on the source during an online migration. */
export type DdlPolicy = z.infer<typeof DdlPolicy>;

/** The stages of a migration, in order (rollback replaces the rest on failure, rejection or cancel). */
export const MIGRATION_STAGES = [
  'preflight',
  'provision',
  'schema',
  'copy',
  'replicate',
  'validate',
  'approval',
  'cutover',
  'finalize',
  'window',
  'done',
] as const;

/** One preflight rule's outcome: id, severity, whether it passed, what it found and how to fix it. */
export const CheckResult = z.object({
  id: z.string(),
  severity: z.enum(['error', 'warning']),
  ok: z.boolean(),
  message: z.string(),
  fix: z.string().optional(),
  /** The objects the check is about (tables without primary key, missing extensions…). */
  items: z.array(z.string()).optional(),
});
/** One preflight rule's outcome. */
export type CheckResult = z.infer<typeof CheckResult>;

/** Facts about one server, as preflight found them. */
export const ServerFacts = z.object({
  reachable: z.boolean(),
  version: z.string().optional(),
  major: z.number().optional(),
  databaseExists: z.boolean().optional(),
  /** The free space on the volume of the server's WAL, when the worker can read it (a server on its host). */
  disk: z.object({ freeBytes: z.number(), totalBytes: z.number(), path: z.string() }).optional(),
});
/** Facts about one server, as preflight found them. */
export type ServerFacts = z.infer<typeof ServerFacts>;

/** The preflight report: a value the user reads before anything is changed. `ok` is false when any error check failed. */
export const PreflightReport = z.object({
  ok: z.boolean(),
  mode: MigrationMode,
  source: ServerFacts,
  target: ServerFacts,
  checks: z.array(CheckResult),
});
/** The preflight report. */
export type PreflightReport = z.infer<typeof PreflightReport>;

/** One table's validation: row counts (and checksums) on both sides. */
export const TableValidation = TableRef.extend({
  sourceRows: z.number(),
  targetRows: z.number(),
  sourceChecksum: z.string().optional(),
  targetChecksum: z.string().optional(),
  ok: z.boolean(),
  /** Why the table is not ok, when more can be said than the figures (a key range, a lagging target). */
  note: z.string().optional(),
});
/** One table's validation. */
export type TableValidation = z.infer<typeof TableValidation>;

/** The row count a validation report gives for a table that does not exist on that side. */
export const MISSING_TABLE_ROWS = -1;

/** The validation report of a migration. */
export const ValidationReport = z.object({
  level: ValidateLevel,
  ok: z.boolean(),
  tables: z.array(TableValidation),
  sequences: z.array(z.object({ name: z.string(), source: z.string(), target: z.string(), ok: z.boolean() })),
  largeObjects: z.object({ source: z.number(), target: z.number(), ok: z.boolean() }),
  /** What the report covers when it is not everything (the validation while replicating). */
  note: z.string().optional(),
});
/** The validation report of a migration. */
export type ValidationReport = z.infer<typeof ValidationReport>;

/**
 * A person's name as approvers list it and decisions carry it (`--as`): compared exactly, so
 * surrounding spaces or control characters would only make a name that nobody can match.
 */
export const PersonName = z
  .string()
  .refine((name) => /^[^\s\p{Cc}](?:[^\p{Cc}]{0,198}[^\s\p{Cc}])?$/u.test(name), {
    message: 'expected a name of 1 to 200 characters, without surrounding spaces or control characters',
    params: { fix: 'write the name exactly as that person gives it to --as' },
    abort: true,
  })
  .min(1)
  .max(200)
  .describe('a person, as they give --as when they approve');

/** A size in bytes, given as a number or as text such as '10GB' (binary units); parsed into bytes. */
export const ByteSize = z
  .union([z.number().int().min(1), z.string()])
  .transform((value, ctx) => {
    const bytes = typeof value === 'number' ? value : parseByteSize(value);
    if (bytes === undefined || bytes < 1) {
      ctx.addIssue({
        code: 'custom',
        message: `expected ${BYTE_SIZE_EXAMPLES}, got "${String(value)}"`,
        params: { fix: `write ${BYTE_SIZE_EXAMPLES}` },
      });
      return z.NEVER;
    }
    return bytes;
  })
  .describe("bytes, or a size such as '512MB', '10GB' or '1TB' (binary units)");

/** The longest fallback window: 30 days (the target's slot holds its WAL back all that time). */
export const FALLBACK_WINDOW_MAX_SECONDS = 30 * 86_400;

/** Input of the `migration` workflow. */
export const MigrationInput = z
  .strictObject({
    name: SafeName,
    source: ConnectionUrl,
    target: ConnectionUrl,
    mode: MigrationMode.default('offline'),
    jobs: Jobs.default(2),
    /** Tables larger than this many bytes are split into ctid-range chunks of about this size. */
    splitLargerThan: z
      .number()
      .int()
      .min(1024 * 1024)
      .default(256 * 1024 * 1024),
    validate: ValidateLevel.default('checksums'),
    /** Who may approve; anyone when empty. */
    approvers: z.array(PersonName).default([]),
    autoApprove: z.boolean().default(false),
    /** Seconds to wait for a decision; reminders go out at half and nine tenths of it. No deadline when absent. */
    approvalTimeoutSeconds: z.number().int().min(1).optional(),
    /** When the deadline passes: roll back (abort), or keep waiting after a last reminder (wait). */
    onApprovalTimeout: z.enum(['abort', 'wait']).default('abort'),
    /**
     * Offline: freeze writes on the source (default_transaction_read_only, sessions ended) from the
     * start of the copy. Without it the source may change under the copy: every table is then
     * validated again at the end, and the result says the source was not frozen.
     */
    freezeSource: z.boolean().default(true),
    onRollback: z.enum(['keep', 'drop']).default('keep'),
    /** An http(s) URL that receives a JSON POST when the target has become the primary (the endpoint switch). */
    switchHook: z.url({ protocol: /^https?$/ }).optional(),
    /** How long one call of the switch hook (URL and worker command) may take, heartbeating meanwhile. */
    switchHookTimeoutSeconds: z.number().int().min(1).max(86_400).default(300),
    /** Who started the migration (the CLI fills in the OS user). */
    startedBy: z.string().min(1).optional(),
    /** Where the approval request, reminders and the outcome go: `slack:CHANNEL_ID` or `webhook:https://…`. */
    notify: z.array(NotifyTarget).max(MAX_NOTIFY_TARGETS).default([]),
    /** The person who started the migration may not approve it (a rejection stays theirs to make). */
    requireSecondPerson: z.boolean().default(false),
    /**
     * Online: how long the cutover waits, once the source is frozen, for the target to replay its
     * last changes. Past it the source is unfrozen at once and the migration waits at its gate again.
     */
    cutoverTimeoutSeconds: z.number().int().min(1).max(3600).default(60),
    /**
     * Online: the WAL the migration's slot may hold back on the source before a warning goes out
     * (bytes, or a size such as '10GB'). Default: half of the source's max_slot_wal_keep_size when
     * that is set, else 10 GB.
     */
    maxRetainedWal: ByteSize.optional(),
    /**
     * Online: schema changes on the source while replicating are applied on the target in order
     * (apply), applied once a person approves each (hold: replication waits at the change), or
     * refused (refuse).
     */
    ddl: DdlPolicy.default('apply'),
    /**
     * The source server's roles: `skip` (the default: they are the target's to have; preflight names
     * any missing) or `copy` (created or aligned on the target before the schema, with the migrated
     * database's owner, privileges and role settings). `only` is a fleet's (pgferry fleet --roles only).
     */
    roles: RolesPolicy.default('skip'),
    /** With roles copy: also the roles' password hashes (the source user must be a superuser). */
    rolePasswords: z.boolean().default(false),
    /**
     * Online: seconds after the cutover during which the target's changes replicate back to the
     * source, so that `pgferry fallback` moves the application back without losing a write; the
     * window ends at its deadline or with `pgferry release`. No window when absent.
     */
    fallbackWindowSeconds: z.number().int().min(60).max(FALLBACK_WINDOW_MAX_SECONDS).optional(),
  })
  .superRefine((input, ctx) => {
    checkRoles(input, 'migrate', (path, message, fix) =>
      ctx.addIssue({ code: 'custom', path: [path], message, params: { fix } }),
    );
    const source = tryParseConnectionUrl(input.source);
    const target = tryParseConnectionUrl(input.target);
    if ('spec' in source && 'spec' in target && sameDatabase(source.spec, target.spec)) {
      ctx.addIssue({
        code: 'custom',
        path: ['target'],
        message: 'the target is the source database',
        params: { fix: 'name another database or server as the target' },
      });
    }
    if (input.requireSecondPerson && input.startedBy === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['startedBy'],
        message: 'requireSecondPerson needs to know who started the migration',
        params: { fix: 'give startedBy (the CLI fills in the OS user)' },
      });
    }
    if (input.fallbackWindowSeconds !== undefined && input.mode !== 'online') {
      ctx.addIssue({
        code: 'custom',
        path: ['fallbackWindowSeconds'],
        message:
          'a fallback window replicates the target back to the source, which needs an online migration',
        params: { fix: 'give --mode online, or leave out --fallback-window' },
      });
    }
    if (input.requireSecondPerson && input.autoApprove) {
      ctx.addIssue({
        code: 'custom',
        path: ['requireSecondPerson'],
        message: 'a second person cannot approve a migration that approves itself',
        params: { fix: 'leave out --auto-approve or --require-second-person' },
      });
    }
  });
/**
 * The roles options that go together: passwords only with roles copied; `only` for a fleet alone
 * (`migrate`), where a migration would have nothing left to do.
 */
export function checkRoles(
  input: { roles: RolesPolicy; rolePasswords: boolean },
  command: 'migrate' | 'fleet',
  issue: (path: string, message: string, fix: string) => void,
): void {
  if (command === 'migrate' && input.roles === 'only')
    issue(
      'roles',
      'roles only copies roles without migrating: that is a fleet of no database',
      'give --roles copy to copy them with this migration, or run pgferry fleet --source-server URL --target-server URL --roles only',
    );
  if (input.rolePasswords && input.roles === 'skip')
    issue(
      'rolePasswords',
      'passwords are copied with the roles, and --roles skip copies none',
      'leave out --role-passwords, or give --roles copy',
    );
}

/** Input of the `migration` workflow, as parsed. */
export type MigrationInput = z.output<typeof MigrationInput>;
/** Input of the `migration` workflow, as a caller writes it. */
export type MigrationOptions = z.input<typeof MigrationInput>;

/** A person's decision at the approval gate: who, and why (a reason is required to reject). */
export const DecisionInput = z.strictObject({
  by: PersonName,
  reason: z.string().optional(),
  /** The chat identity when the decision came from chat (team, user id, user name, channel). */
  via: z.record(z.string(), z.string()).optional(),
});
/** A person's decision at the approval gate. */
export type DecisionInput = z.infer<typeof DecisionInput>;

/**
 * A person's approval of one held schema change (--ddl hold): which change (its number in status's
 * schema list), who, and why; both are kept in the migration's history.
 */
export const DdlApprovalInput = z.strictObject({
  change: z.number().int().min(1),
  by: PersonName,
  reason: z.string().trim().min(1, 'say why the change may go to the target'),
  /** The chat identity when the approval came from chat. */
  via: z.record(z.string(), z.string()).optional(),
});
/** A person's approval of one held schema change. */
export type DdlApprovalInput = z.infer<typeof DdlApprovalInput>;

/** A held schema change's approval as the target recorded it. */
export interface DdlApproval {
  readonly change: number;
  readonly tag: string;
  readonly statement: string;
  readonly by: string;
  readonly reason: string;
  /** When the target recorded it (ISO 8601, the target's clock). */
  readonly at: string;
}

/**
 * A person's call to fall back in the fallback window: who (under the approvers' rules) and why,
 * both kept in the migration's history.
 */
export const FallbackInput = z.strictObject({
  by: PersonName,
  reason: z.string().trim().min(1, 'say why the migration falls back'),
  /** The chat identity when the call came from chat. */
  via: z.record(z.string(), z.string()).optional(),
});
/** A person's call to fall back. */
export type FallbackInput = z.infer<typeof FallbackInput>;

/** Who ends a fallback window early (`pgferry release`); anyone may, so the name is for the history. */
export const ReleaseInput = z.strictObject({
  by: PersonName.optional(),
  reason: z.string().optional(),
  via: z.record(z.string(), z.string()).optional(),
});
/** Who ends a fallback window early. */
export type ReleaseInput = z.infer<typeof ReleaseInput>;

/** A fallback as it happened: who, why, when, and the outage of the switch back. */
export const FallbackReport = z.object({
  by: z.string(),
  reason: z.string(),
  via: z.record(z.string(), z.string()).optional(),
  /** When it was asked for, and when the source took writes again (workflow time, ISO 8601). */
  askedAt: z.string(),
  at: z.string(),
  /** The target frozen → the source unfrozen, on the target server's clock. */
  downtimeMs: z.number().optional(),
  /** The target's last LSN, which the source had replayed before it was unfrozen. */
  lsn: z.string(),
  sequences: z.number(),
});
/** A fallback as it happened. */
export type FallbackReport = z.infer<typeof FallbackReport>;

/** A fallback window from its opening to its end, and a fallback if there was one. */
export const FallbackWindowReport = z.object({
  seconds: z.number(),
  /** The window's deadline (workflow time, ISO 8601); absent when it could not open. */
  until: z.string().optional(),
  state: z.enum(['open', 'falling_back', 'fell_back', 'released', 'expired', 'not_opened']),
  /** Why the window did not open (the cutover stands; there is no way back). */
  problem: z.string().optional(),
  endedAt: z.string().optional(),
  releasedBy: z.string().optional(),
  fallback: FallbackReport.optional(),
  /** Fallbacks that did not go through (the target unfrozen again, the window still open). */
  failed: z.array(z.object({ by: z.string(), at: z.string(), problem: z.string() })).optional(),
});
/** A fallback window from its opening to its end. */
export type FallbackWindowReport = z.infer<typeof FallbackWindowReport>;

/** The decision the gate recorded. */
export const Decision = z.object({
  outcome: z.enum(['approved', 'rejected']),
  by: z.string(),
  reason: z.string().optional(),
  /** How it arrived: a Temporal Update, a Signal, or --auto-approve. */
  channel: z.enum(['update', 'signal', 'auto']),
  via: z.record(z.string(), z.string()).optional(),
});
/** The decision the gate recorded. */
export type Decision = z.infer<typeof Decision>;

/** How the write fence was watched: the fence's logical slot (WAL), the tables' write counters. */
export const FenceMethod = z.enum(['logical-slot', 'table-counters']);
/** How the write fence was watched. */
export type FenceMethod = z.infer<typeof FenceMethod>;

/**
 * The write fence on a frozen source, as verified before the target became the primary: how it
 * was watched (and why not by a slot), whose own settings it overrode, and what it cost.
 */
export const WriteFenceReport = z.object({
  /** The watches that found no write after the fence; empty when none could run. */
  methods: z.array(FenceMethod),
  /** Why the fence had no logical slot (wal_level, privilege, a busy server): the counters alone decided. */
  slotSkipped: z.string().optional(),
  /** Roles whose own default_transaction_read_only = off the freeze overrode in the source database. */
  roles: z.array(z.string()),
  /** What the fence added to the freeze: the ended sessions confirmed gone, the counters read, the slot made. */
  addedMs: z.number(),
  /** How long the verification took, inside the downtime. */
  verifyMs: z.number(),
  /** Anything a person should know about the verification (a slot lost, counters reset). */
  notes: z.array(z.string()).optional(),
});
/** The write fence on a frozen source, as verified. */
export type WriteFenceReport = z.infer<typeof WriteFenceReport>;

/** Result of the `migration` workflow. */
export const MigrationResult = z.object({
  name: z.string(),
  mode: MigrationMode,
  source: z.string(),
  target: z.string(),
  outcome: z.enum(['completed', 'rejected']),
  decision: Decision.optional(),
  preflight: PreflightReport,
  validation: ValidationReport.optional(),
  /** Online: the validation while replicating, before the approval (the cutover's `validation` checks counts). */
  validationWhileReplicating: ValidationReport.optional(),
  tables: z.number(),
  chunks: z.number(),
  rows: z.number(),
  bytes: z.number(),
  sequences: z.number(),
  largeObjects: z.number(),
  /** Source frozen → target ready, when the source was frozen. */
  downtimeMs: z.number().optional(),
  /** Whether the source was frozen for the copy (offline) or at cutover (online). */
  sourceFrozen: z.boolean().optional(),
  /** The write fence on the frozen source, verified before the target became the primary. */
  writeFence: WriteFenceReport.optional(),
  /** With roles copy: what the copy of the roles did, and what the target user could not grant. */
  roles: RolesReport.optional(),
  /** With --fallback-window: the window, and the fallback if one moved the application back. */
  fallbackWindow: FallbackWindowReport.optional(),
});
/** Result of the `migration` workflow. */
export type MigrationResult = z.infer<typeof MigrationResult>;

/** Input of the `preflight` workflow: the checks alone, nothing changed. */
export const PreflightInput = z.strictObject({
  source: ConnectionUrl,
  target: ConnectionUrl,
  mode: MigrationMode.default('offline'),
  /** As the migration would run: `copy` copies the roles first, so a role the target lacks is no error. */
  roles: RolesPolicy.exclude(['only']).default('skip'),
  /** Offline: as the migration would run (false with --no-freeze: no freeze, so fewer rights asked of the source user). */
  freezeSource: z.boolean().default(true),
});
/** Input of the `preflight` workflow, as parsed. */
export type PreflightInput = z.output<typeof PreflightInput>;
/** Input of the `preflight` workflow, as a caller writes it. */
export type PreflightOptions = z.input<typeof PreflightInput>;
