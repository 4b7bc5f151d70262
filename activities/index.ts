import type { Chunk } from '../domain/chunks';
import { analyzeTarget, type AnalyzeTargetInput } from './analyze';
import { checkBackupInput, dumpDatabase, type CheckBackupInput, type DumpInput } from './backup';
import { restoreStorage, setAsIsStorage, type AsIsStorageInput } from './as-is-storage';
import { copyChunk, copyChunks, listCopyTables, type CopyChunksInput, type TableColumns } from './copy';
import {
  currentLsn,
  dropReplication,
  waitForReplay,
  type DropReplicationInput,
  type WaitForReplayInput,
} from './cutover';
import { dropOwnTarget, freezeSource, unfreezeSource } from './freeze';
import { copyLargeObjects } from './large-objects';
import { notifyTargets, sendNotification, type NotifyInput, type NotifyTargetsInput } from './notify';
import { runPreflight } from './preflight';
import { chunksDone, dropLedger, ensureLedger, resetCopy, type ResetCopyInput } from './ledger';
import { createPublication, type CreatePublicationInput } from './publication';
import {
  awaitSnapshot,
  holdSlotSnapshot,
  type AwaitSnapshotInput,
  type HoldSlotSnapshotInput,
} from './snapshot';
import {
  createSubscription,
  replicationLag,
  type CreateSubscriptionInput,
  type ReplicationLagInput,
} from './subscription';
import {
  buildTableIndexes,
  copySchemaSection,
  type SchemaSectionInput,
  type TableIndexesInput,
} from './schema';
import { syncSequences } from './sequences';
import { switchEndpoint, type SwitchHookInput } from './switch-hook';
import { validateTables } from './validate';
import type { ActivityDeps } from './deps';
import { withFailureCodes } from './failure';
import { provisionDatabase, type ProvisionDatabaseInput } from './provision/local';
import { provisionLocalCluster, type ProvisionClusterInput } from './provision/local-cluster';
import {
  checkRestoredRows,
  checkRestoreTarget,
  restoreDatabase,
  verifyBackup,
  type RestoreDatabaseInput,
} from './restore';

/** Builds every activity around its dependencies. Each is idempotent and safe to retry. */
export function createActivities(deps: ActivityDeps) {
  return withFailureCodes({
    provisionDatabase: (input: ProvisionDatabaseInput) => provisionDatabase(deps, input),
    provisionLocalCluster: (input: ProvisionClusterInput) => provisionLocalCluster(deps, input),
    checkBackupInput: (input: CheckBackupInput) => checkBackupInput(deps, input),
    dumpDatabase: (input: DumpInput) => dumpDatabase(deps, input),
    verifyBackup: (input: { from: string }) => verifyBackup(deps, input),
    checkRestoreTarget: (input: { from: string; target: string; marker: string }) =>
      checkRestoreTarget(deps, input),
    restoreDatabase: (input: RestoreDatabaseInput) => restoreDatabase(deps, input),
    checkRestoredRows: (input: { from: string; target: string }) => checkRestoredRows(deps, input),
    runPreflight: (input: { source: string; target: string; mode: 'offline' | 'online' }) =>
      runPreflight(deps, input),
    copySchemaSection: (input: SchemaSectionInput) => copySchemaSection(deps, input),
    buildTableIndexes: (input: TableIndexesInput) => buildTableIndexes(deps, input),
    freezeSource: (input: { source: string }) => freezeSource(deps, input),
    unfreezeSource: (input: { source: string }) => unfreezeSource(deps, input),
    dropOwnTarget: (input: { target: string; marker: string }) => dropOwnTarget(deps, input),
    listCopyTables: (input: { source: string; snapshot?: string }) => listCopyTables(deps, input),
    ensureLedger: (input: { target: string }) => ensureLedger(deps, input),
    copyChunk: (input: {
      source: string;
      target: string;
      migration: string;
      chunk: Chunk;
      snapshot?: string;
    }) => copyChunk(deps, input),
    copyChunks: (input: CopyChunksInput) => copyChunks(deps, input),
    setAsIsStorage: (input: AsIsStorageInput) => setAsIsStorage(deps, input),
    restoreStorage: (input: { target: string; tables: TableColumns[] }) => restoreStorage(deps, input),
    chunksDone: (input: { target: string; migration: string }) => chunksDone(deps, input),
    syncSequences: (input: { source: string; target: string }) => syncSequences(deps, input),
    copyLargeObjects: (input: { source: string; target: string }) => copyLargeObjects(deps, input),
    validateTables: (input: {
      source: string;
      target: string;
      level: 'counts' | 'checksums';
      skip?: string[];
    }) => validateTables(deps, input),
    holdSlotSnapshot: (input: HoldSlotSnapshotInput) => holdSlotSnapshot(deps, input),
    awaitSnapshot: (input: AwaitSnapshotInput) => awaitSnapshot(deps, input),
    createPublication: (input: CreatePublicationInput) => createPublication(deps, input),
    createSubscription: (input: CreateSubscriptionInput) => createSubscription(deps, input),
    replicationLag: (input: ReplicationLagInput) => replicationLag(deps, input),
    currentLsn: (input: { source: string }) => currentLsn(deps, input),
    waitForReplay: (input: WaitForReplayInput) => waitForReplay(deps, input),
    dropReplication: (input: DropReplicationInput) => dropReplication(deps, input),
    resetCopy: (input: ResetCopyInput) => resetCopy(deps, input),
    analyzeTarget: (input: AnalyzeTargetInput) => analyzeTarget(deps, input),
    switchEndpoint: (input: SwitchHookInput) => switchEndpoint(deps, input),
    notifyTargets: (input: NotifyTargetsInput) => notifyTargets(deps, input),
    notify: (input: NotifyInput) => sendNotification(deps, input),
    /** A reminder that a migration waits for a decision, in the worker's log (chat and webhooks get it from `notify`). */
    remindApproval: async (input: { name: string; secondsLeft: number; approvers: string[] }) => {
      deps.logger.warn(
        input,
        input.secondsLeft > 0 ? 'migration waits for approval' : 'approval deadline passed; still waiting',
      );
      return Promise.resolve();
    },
    /** Drops the ledger: the target holds nothing of pgferry's any more. Returns when (for downtime). */
    finalizeTarget: async (input: { target: string }) => {
      await dropLedger(deps, input);
      return { at: Date.now() };
    },
  });
}

/** The activities pgferry's workflows call, by name; workflows import this as a type only. */
export type Activities = ReturnType<typeof createActivities>;
