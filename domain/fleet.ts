import { z } from 'zod';
import { formatConnectionUrl, sameDatabase, tryParseConnectionUrl, withDatabase } from './connection';
import { ConnectionUrl, DatabaseName, Jobs, SafeName } from './contracts';
import { ErrorCode, PgferryError } from './errors';
import { checkRoles, MigrationMode, PersonName, ValidateLevel } from './migration';
import { RolesPolicy, RolesReport } from './roles';

/** How a fleet's cutovers are approved: one decision per wave, one per database, or none. */
export const FleetApproval = z.enum(['waves', 'each', 'auto']);
/** How a fleet's cutovers are approved. */
export type FleetApproval = z.infer<typeof FleetApproval>;

/** The options one member may set for itself (a plan entry's own), over the fleet's. */
export const MemberOptions = z.strictObject({
  jobs: Jobs.optional(),
  validate: ValidateLevel.optional(),
  splitLargerThan: z
    .number()
    .int()
    .min(1024 * 1024)
    .optional(),
  freezeSource: z.boolean().optional(),
  onRollback: z.enum(['keep', 'drop']).optional(),
  switchHook: z.url({ protocol: /^https?$/ }).optional(),
});
/** The options one member may set for itself. */
export type MemberOptions = z.infer<typeof MemberOptions>;

/** One database of a plan: its own source and target, and its own options. */
export const PlanEntry = MemberOptions.extend({
  /** The member's name in the fleet; the source URL's database when absent. */
  database: DatabaseName.optional(),
  source: ConnectionUrl,
  target: ConnectionUrl,
});
/** One database of a plan, as a plan file writes it. */
export type PlanEntry = z.input<typeof PlanEntry>;

/** One member of a planned fleet: the database, its migration's name, its wave, and its URLs. */
export const FleetMember = z.object({
  database: z.string(),
  /** The member migration's name (workflow id `migration-NAME`). */
  name: z.string(),
  wave: z.number().int().min(1),
  source: z.string(),
  target: z.string(),
  options: MemberOptions.default({}),
});
/** One member of a planned fleet. */
export type FleetMember = z.infer<typeof FleetMember>;

/** Where a member stands, as the fleet sees it. */
export const MemberState = z.enum([
  'pending',
  'running',
  'at_gate',
  'completed',
  'failed',
  'rejected',
  'skipped',
  'not_started',
]);
/** Where a member stands, as the fleet sees it. */
export type MemberState = z.infer<typeof MemberState>;

/** What the fleet keeps of one member, carried from wave to wave. */
export const MemberRecord = z.object({
  state: MemberState,
  attempts: z.number().int().min(0),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  rows: z.number().optional(),
  downtimeMs: z.number().optional(),
  validated: z.boolean().optional(),
  approvedBy: z.string().optional(),
});
/** What the fleet keeps of one member. */
export type MemberRecord = z.infer<typeof MemberRecord>;

/** What a fleet carries into its next run (continue-as-new between waves). */
export const FleetCarry = z.object({
  members: z.array(FleetMember),
  records: z.record(z.string(), MemberRecord),
  /** The wave this run works on. */
  wave: z.number().int().min(1),
  /** What the copy of the roles did, one report per server pair (roles copy or only). */
  roles: z.array(RolesReport).optional(),
});
/** What a fleet carries into its next run. */
export type FleetCarry = z.infer<typeof FleetCarry>;

/** Input of the `fleet` workflow: many databases, each migrated by a child `migration`, in waves. */
export const FleetInput = z
  .strictObject({
    name: SafeName,
    /** The server the databases live on (`--databases`, `--all`): the database it names is where they are listed. */
    sourceServer: ConnectionUrl.optional(),
    /** The server they go to: each member's target is the database of the same name there. */
    targetServer: ConnectionUrl.optional(),
    databases: z.array(DatabaseName).min(1).optional(),
    /** Every database of the source server that is not a template, but `postgres`. */
    all: z.boolean().default(false),
    /** A plan: one entry per database with its own URLs and options. */
    plan: z.array(PlanEntry).min(1).optional(),
    mode: MigrationMode.default('offline'),
    waveSize: z.number().int().min(1).max(1000).default(10),
    /** At most this many members copy at once (a member waiting at its gate does not count). */
    concurrency: z.number().int().min(1).max(64).default(4),
    /** A wave with more failed members than this halts the fleet until a person decides. */
    failureBudget: z.number().int().min(0).default(0),
    approve: FleetApproval.default('waves'),
    /** Who may approve a wave; anyone when empty. */
    approvers: z.array(PersonName).default([]),
    jobs: Jobs.default(2),
    validate: ValidateLevel.default('checksums'),
    /**
     * The source server's roles: `copy` (the default) creates or aligns them on the target server
     * once per server pair, before the first member; `skip` leaves them to the user; `only` copies
     * them and ends, moving no database.
     */
    roles: RolesPolicy.default('copy'),
    /** Also the roles' password hashes (the source user must be a superuser). */
    rolePasswords: z.boolean().default(false),
    startedBy: z.string().min(1).optional(),
    /** Set by the fleet itself when it continues as new; never by a caller. */
    carried: FleetCarry.optional(),
  })
  .superRefine((input, ctx) => {
    const issue: Issue = (path, message, fix) =>
      ctx.addIssue({ code: 'custom', path: [path], message, params: { fix } });
    checkSelection(input, issue);
    checkRoles(input, 'fleet', issue);
  });
/** Input of the `fleet` workflow, as parsed. */
export type FleetInput = z.output<typeof FleetInput>;
/** Input of the `fleet` workflow, as a caller writes it. */
export type FleetOptions = z.input<typeof FleetInput>;

/** Reports one problem of an input at its field, with the fix. */
type Issue = (path: string, message: string, fix: string) => void;

/** Exactly one way to choose the databases, and the servers that way needs. */
function checkSelection(
  input: Parameters<typeof checkServers>[0] & {
    databases?: unknown;
    all: boolean;
    plan?: unknown;
    roles: RolesPolicy;
  },
  issue: Issue,
): void {
  const ways = [input.databases ? 'databases' : '', input.all ? 'all' : '', input.plan ? 'plan' : ''];
  const given = ways.filter(Boolean);
  // Roles only needs the servers, not the databases.
  if (given.length === 0 && input.roles !== 'only')
    issue('databases', 'no database chosen', 'give --databases a,b,c, --all, or --plan FILE');
  if (given.length > 1)
    issue(
      given[1] ?? 'databases',
      `${given.join(' and ')} were both given`,
      'choose the databases one way: --databases a,b,c, --all, or --plan FILE',
    );
  if (!input.plan) checkServers(input, issue);
}

function checkServers(
  input: { sourceServer?: string | undefined; targetServer?: string | undefined },
  issue: Issue,
): void {
  if (input.sourceServer === undefined)
    issue('sourceServer', 'required', 'give --source-server postgres://USER@HOST:PORT/postgres');
  if (input.targetServer === undefined)
    issue('targetServer', 'required', 'give --target-server postgres://USER@HOST:PORT/postgres');
  if (input.sourceServer === undefined || input.targetServer === undefined) return;
  const source = tryParseConnectionUrl(input.sourceServer);
  const target = tryParseConnectionUrl(input.targetServer);
  if (
    'spec' in source &&
    'spec' in target &&
    sameDatabase(withDatabase(source.spec, ''), withDatabase(target.spec, ''))
  )
    issue(
      'targetServer',
      'the target server is the source server: every database would be its own target',
      'name another server, or give a --plan FILE with other target databases',
    );
}

/** A server URL without a database names the `postgres` database, where the databases are listed. */
export function serverUrl(url: string): string {
  return /^postgres(ql)?:\/\/[^/?]*(\?|$)/i.test(url) ? url.replace(/(\?|$)/, '/postgres$1') : url;
}

/** The URL of database `database` on the server `server` names (its user and parameters kept). */
export function databaseUrl(server: string, database: string): string {
  const parsed = tryParseConnectionUrl(server);
  if (!('spec' in parsed)) return server;
  return formatConnectionUrl(withDatabase(parsed.spec, database));
}

/**
 * The databases a fleet moves, from what the source server lists (for --databases and --all);
 * an unknown name is InvalidInput naming `databases`, before any member starts.
 */
export function chooseDatabases(input: FleetInput, listed: readonly string[]): string[] {
  if (input.all) {
    const chosen = listed.filter((d) => d !== 'postgres');
    if (chosen.length === 0)
      throw new PgferryError(ErrorCode.InvalidInput, 'all: the source server has no database to move', {
        field: 'all',
        fix: 'point --source-server at the server that holds the databases',
      });
    return chosen;
  }
  const wanted = input.databases ?? [];
  const unknown = wanted.filter((d) => !listed.includes(d));
  if (unknown.length > 0)
    throw new PgferryError(
      ErrorCode.InvalidInput,
      `databases: ${unknown.map((d) => `"${d}"`).join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not on the source server (it has ${listed.join(', ') || 'none'})`,
      { field: 'databases', fix: 'name databases the source server has, or use --all' },
    );
  return [...new Set(wanted)];
}

/** The members of a fleet, in waves of `waveSize`, from the chosen databases or the plan. */
export function planMembers(input: FleetInput, databases: readonly string[]): FleetMember[] {
  const entries: { database: string; source: string; target: string; options: MemberOptions }[] = input.plan
    ? input.plan.map(({ database, source, target, ...options }) => ({
        database: database ?? databaseOf(source),
        source,
        target,
        options,
      }))
    : databases.map((database) => ({
        database,
        source: databaseUrl(input.sourceServer ?? '', database),
        target: databaseUrl(input.targetServer ?? '', database),
        options: {},
      }));
  const taken = new Set<string>();
  return entries.map((entry, i) => ({
    ...entry,
    name: memberName(input.name, entry.database, taken),
    wave: Math.floor(i / input.waveSize) + 1,
  }));
}

function databaseOf(url: string): string {
  const parsed = tryParseConnectionUrl(url);
  return 'spec' in parsed ? parsed.spec.database : url;
}

/**
 * A member migration's name: `FLEET-DATABASE`, made safe for ids; a name that had to change, or
 * that another member already has, gets a short hash of the database's name.
 */
export function memberName(fleet: string, database: string, taken: Set<string>): string {
  const cleaned = database.replace(/[^A-Za-z0-9_.-]+/g, '_');
  const plain = `${fleet}-${cleaned}`;
  const name =
    cleaned === database && plain.length <= 63 && !taken.has(plain)
      ? plain
      : `${fleet.slice(0, 20)}-${cleaned.slice(0, 32)}-${hash(`${database}#${taken.size}`)}`;
  taken.add(name);
  return name;
}

/** FNV-1a, 32 bits, in hex: deterministic in workflow code (no crypto there). */
function hash(text: string): string {
  let h = 0x811c9dc5;
  for (const ch of text) {
    h ^= ch.codePointAt(0) ?? 0;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** The servers a copy of roles reads and writes: a source database and a target database URL. */
export interface RolesPair {
  readonly source: string;
  readonly target: string;
}

/**
 * The server pairs of a fleet, each once, in the members' order: the servers' own URLs for
 * --databases and --all; for a plan, the first member's source and target of each pair (the
 * source database exists; the target's server is reached through its maintenance database).
 */
export function rolesPairs(input: FleetInput, members: readonly FleetMember[]): RolesPair[] {
  if (!input.plan)
    return [{ source: serverUrl(input.sourceServer ?? ''), target: serverUrl(input.targetServer ?? '') }];
  const seen = new Map<string, RolesPair>();
  for (const m of members)
    if (!seen.has(pairKey(m))) seen.set(pairKey(m), { source: m.source, target: m.target });
  return [...seen.values()];
}

/** A pair's servers as `host:port host:port`: two URLs of databases on the same servers give one key. */
function pairKey(pair: RolesPair): string {
  const server = (url: string) => {
    const parsed = tryParseConnectionUrl(url);
    return 'spec' in parsed ? `${parsed.spec.host}:${parsed.spec.port}` : url;
  };
  return `${server(pair.source)} ${server(pair.target)}`;
}

/** What a server pair has room for now: the source's free slots and WAL senders, the target's free apply workers. */
export interface ReplicationRoom {
  readonly slots: number;
  readonly senders: number;
  readonly workers: number;
}

/**
 * The most members of one wave on `pair` (one of rolesPairs): online with approval by wave or by
 * member, that many replicate at once, each waiting at its gate with its subscription.
 */
export function replicatingAtOnce(
  input: FleetInput,
  members: readonly FleetMember[],
  pair: RolesPair,
): number {
  const key = pairKey(pair);
  const perWave = new Map<number, number>();
  for (const m of members)
    if (!input.plan || pairKey(m) === key) perWave.set(m.wave, (perWave.get(m.wave) ?? 0) + 1);
  return Math.max(0, ...perWave.values());
}

/** What a pair with `room` lacks for `needed` subscriptions at once, each naming its setting; empty when they fit. */
export function replicationShortfall(needed: number, room: ReplicationRoom): string[] {
  const short: string[] = [];
  if (room.slots < needed)
    short.push(`the source server has ${room.slots} free replication slot(s) (max_replication_slots)`);
  if (room.senders < needed)
    short.push(`the source server has ${room.senders} free WAL sender(s) (max_wal_senders)`);
  if (room.workers < needed)
    short.push(
      `the target server has ${room.workers} free logical replication worker(s) (max_logical_replication_workers, within max_worker_processes)`,
    );
  return short;
}

/** The number of waves of a planned fleet. */
export function waveCount(members: readonly FleetMember[]): number {
  return members.reduce((max, m) => Math.max(max, m.wave), 0);
}

/** The fleet's result: how it ended and where every member stands. */
export const FleetResult = z.object({
  name: z.string(),
  outcome: z.enum(['completed', 'completed_with_failures', 'aborted', 'rejected']),
  waves: z.number(),
  members: z.array(FleetMember.extend({ record: MemberRecord })),
  /** What the copy of the roles did, one report per server pair (roles copy or only). */
  roles: z.array(RolesReport).optional(),
});
/** The fleet's result. */
export type FleetResult = z.infer<typeof FleetResult>;

/** What the fleet waits for, when it waits for a person. */
export const FleetAwaiting = z.object({
  kind: z.enum(['approval', 'decision']),
  wave: z.number(),
  /** The failed members, when a decision is awaited. */
  failed: z.array(z.string()).optional(),
});
/** What the fleet waits for. */
export type FleetAwaiting = z.infer<typeof FleetAwaiting>;

/** What the `fleet` query answers: the plan, the current wave, and every member's record. */
export interface FleetState {
  readonly name: string;
  readonly mode: string;
  readonly approve: FleetApproval;
  readonly wave: number;
  readonly waves: number;
  readonly awaiting?: FleetAwaiting | undefined;
  readonly outcome?: FleetResult['outcome'] | undefined;
  readonly members: (FleetMember & { record: MemberRecord })[];
  /** What the copy of the roles did, one report per server pair. */
  readonly roles?: RolesReport[] | undefined;
}

/** A wave decision (`fleet approve|reject NAME --wave K --as WHO`). */
export const WaveDecisionInput = z.strictObject({
  wave: z.number().int().min(1),
  by: PersonName,
  reason: z.string().optional(),
});
/** A wave decision. */
export type WaveDecisionInput = z.infer<typeof WaveDecisionInput>;

/** What to do with a halted wave: `retry` a failed member, `skip` the failed ones, or `abort` the fleet. */
export const FleetDecisionInput = z.strictObject({
  action: z.enum(['retry', 'skip', 'abort']),
  by: PersonName,
  /** The database to retry (`retry`). */
  member: z.string().min(1).optional(),
  reason: z.string().optional(),
});
/** What to do with a halted wave. */
export type FleetDecisionInput = z.infer<typeof FleetDecisionInput>;
