import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { FleetDecisionInput, FleetState, WaveDecisionInput } from '../domain/fleet';
import type { Decision } from '../domain/migration';

/** A member tells its fleet it waits at its approval gate (its copy is done): its workflow id. */
export const memberAtGateSignal = defineSignal<[string]>('fleetMemberAtGate');
/** Approves every member of a wave waiting at its gate: `{ wave, by, reason? }`. */
export const approveWaveUpdate = defineUpdate<Decision, [WaveDecisionInput]>('approveWave');
/** Rejects a wave: its members roll back and the fleet ends. */
export const rejectWaveUpdate = defineUpdate<Decision, [WaveDecisionInput]>('rejectWave');
/** A decision on a halted fleet, or a member's retry: `{ action: retry|skip|abort, by, member? }`. */
export const fleetDecisionUpdate = defineUpdate<FleetState, [FleetDecisionInput]>('fleetDecision');
/** The fleet's plan, current wave, and every member's record. */
export const fleetQuery = defineQuery<FleetState>('fleet');
