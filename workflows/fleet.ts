import { allHandlersFinished, condition, continueAsNew, upsertSearchAttributes } from '@temporalio/workflow';
import { ErrorCode, PgferryError } from '../domain/errors';
import {
  chooseDatabases,
  FleetInput,
  planMembers,
  replicatingAtOnce,
  replicationShortfall,
  rolesPairs,
  waveCount,
  type FleetCarry,
  type FleetMember,
  type FleetOptions,
  type FleetResult,
  type MemberRecord,
} from '../domain/fleet';
import { MigrationInput } from '../domain/migration';
import type { RolesReport } from '../domain/roles';
import { parseInput } from '../domain/contracts';
import { control } from './activities';
import { toWorkflowFailure } from './failures';
import { FleetRun } from './fleet-run';
import { fleetKey, memberInput, runWave, type WaveEnd } from './fleet-wave';
import { parseWorkflowInput } from './input';
import { Progress } from './progress';

/** The stages of a fleet: its plan (databases listed and checked), its waves, done. */
export const FLEET_STAGES = ['plan', 'waves', 'done'] as const;

/**
 * Migrates many databases as child `migration` workflows, in waves: plan (the source server's
 * databases listed and every member's input checked, before any member starts; then the roles
 * copied once per server pair, unless roles skip; roles only ends here), then one wave per run: its
 * members with at most `concurrency` copying at once, a failure budget, and the wave's approval;
 * then continue-as-new with the records so far, so the history stays bounded.
 */
export async function fleet(raw: FleetOptions): Promise<FleetResult> {
  const input = parseWorkflowInput(FleetInput, raw, 'fleet');
  const progress = new Progress([...FLEET_STAGES], { mode: input.mode });
  upsertSearchAttributes([{ key: fleetKey, value: input.name }]);
  const ended = await progress.run(async (): Promise<{ next?: FleetCarry; result?: FleetResult }> => {
    const carry = input.carried ?? (await plan(input, progress));
    if (input.roles === 'only') return { result: rolesOnly(input, carry) };
    progress.enter('waves');
    const run = new FleetRun(input, carry.members, carry.wave, carry.records, progress, carry.roles);
    run.changed();
    const end = await runWave(run);
    // Updates that were accepted finish before the run ends.
    await condition(allHandlersFinished);
    const last = carry.wave >= waveCount(carry.members);
    return end === 'done' && !last
      ? { next: run.carry(carry.wave + 1) }
      : { result: run.result(outcome(run, end)) };
  });
  if (ended.next === undefined) return ended.result as FleetResult;
  return continueAsNew<typeof fleet>({ ...input, carried: ended.next });
}

/** How the fleet ended. */
function outcome(run: FleetRun, end: WaveEnd): FleetResult['outcome'] {
  if (end !== 'done') return end;
  const ok: MemberRecord['state'][] = ['completed'];
  return run.members.every((m) => ok.includes(run.record(m).state)) ? 'completed' : 'completed_with_failures';
}

/** Roles only: the roles copied, no member started. */
function rolesOnly(input: FleetInput, carry: FleetCarry): FleetResult {
  return {
    name: input.name,
    outcome: 'completed',
    waves: 0,
    members: carry.members.map((m) => ({ ...m, record: { state: 'not_started', attempts: 0 } })),
    ...(carry.roles ? { roles: carry.roles } : {}),
  };
}

/**
 * The source server's roles copied to the target server once per server pair, before the first
 * member (each member then aligns them again, which changes nothing, with its own database's
 * owner, privileges and role settings).
 */
async function copyRoles(
  input: FleetInput,
  members: readonly FleetMember[],
  progress: Progress,
): Promise<RolesReport[]> {
  const reports: RolesReport[] = [];
  for (const pair of rolesPairs(input, members)) {
    reports.push(await control.copyRoles({ ...pair, passwords: input.rolePasswords, database: false }));
    progress.detail('roles', reports);
  }
  return reports;
}

/**
 * Plan: the databases chosen (listed on the source server for --databases and --all; an unknown
 * one is bad input), the members in waves, and every member's migration input checked, so that a
 * bad one fails the fleet here, before any member starts.
 */
async function plan(input: FleetInput, progress: Progress): Promise<FleetCarry> {
  const listed =
    input.plan || input.sourceServer === undefined
      ? []
      : (await control.listDatabases({ source: input.sourceServer })).databases;
  try {
    const members = planMembers(input, input.plan ? [] : chooseDatabases(input, listed));
    members.forEach((member, i) => checkMember(input, member, i));
    if (input.mode === 'online' && input.approve !== 'auto' && input.roles !== 'only')
      await checkReplicationRoom(input, members);
    const records = Object.fromEntries(
      members.map((m) => [m.name, { state: 'pending', attempts: 0 } as const]),
    );
    const roles = input.roles === 'skip' ? undefined : await copyRoles(input, members, progress);
    return { members, records, wave: 1, ...(roles ? { roles } : {}) };
  } catch (err) {
    throw toWorkflowFailure(err);
  }
}

/**
 * Online, approved by wave or member by member, every member of a wave ends up replicating at its
 * gate at once: a slot and a WAL sender each on the source, a subscription (an apply worker) each
 * on the target. A wave that does not fit would wait for ever (its last members find no worker and
 * never catch up, so the wave never reaches its approval); it is refused here, before anything
 * starts, naming the settings. Approved automatically, members cut over as they catch up and free
 * their room for the next.
 */
async function checkReplicationRoom(input: FleetInput, members: readonly FleetMember[]): Promise<void> {
  for (const pair of rolesPairs(input, members)) {
    const needed = replicatingAtOnce(input, members, pair);
    const room = await control.replicationRoom(pair);
    const short = replicationShortfall(needed, room);
    if (short.length === 0) continue;
    const fits = Math.max(1, Math.min(room.slots, room.senders, room.workers));
    throw new PgferryError(
      ErrorCode.InvalidInput,
      `waveSize: online with --approve ${input.approve}, a wave's ${needed} members replicate at once, but ${short.join('; ')}`,
      {
        field: 'waveSize',
        fix: `use --wave-size ${fits} or less, or raise those settings on the servers (a restart), or --approve auto`,
      },
    );
  }
}

/** A member's migration input, parsed as the member will parse it; a problem names the plan entry. */
function checkMember(input: FleetInput, member: ReturnType<typeof planMembers>[number], i: number): void {
  try {
    parseInput(MigrationInput, memberInput(input, member), 'migration');
  } catch (err) {
    if (!(err instanceof PgferryError)) throw err;
    const where = input.plan ? `plan.${i}` : `databases.${i}`;
    throw new PgferryError(ErrorCode.InvalidInput, `${where} (${member.database}): ${err.message}`, {
      field: `${where}.${err.field ?? 'input'}`,
      ...(err.fix ? { fix: err.fix } : {}),
    });
  }
}
