import * as In from '../domain/activity-inputs';
import { analyzeTarget } from './analyze';
import { checkBackupInput, dumpDatabase } from './backup';
import { cleanSource, cleanTarget } from './cleanup';
import { restoreStorage, setAsIsStorage } from './as-is-storage';
import { copyChunk, copyChunks, listCopyTables } from './copy';
import {
  currentLsn,
  dropReplication,
  dropSourceReplication,
  dropSubscription,
  waitForReplay,
} from './cutover';
import { captureDdl, joinNewTables, listDdlChanges } from './ddl';
import { approveDdlChange } from './ddl-approval';
import { verifyFence } from './fence';
import { listDatabases, replicationRoom } from './fleet';
import { dropOwnTarget, freezeSource, unfreezeSource } from './freeze';
import { copyLargeObjects } from './large-objects';
import { notifyTargets, sendNotification } from './notify';
import { runPreflight } from './preflight';
import { chunksDone, dropLedger, ensureLedger, resetCopy } from './ledger';
import { activity } from './parse';
import { createPublication } from './publication';
import { closeReverse, openReverse, subscribeReverse } from './reverse';
import { awaitSnapshot, holdSlotSnapshot } from './snapshot';
import { createSubscription, replicationLag } from './subscription';
import { buildTableIndexes, copySchemaSection } from './schema';
import { syncSequences } from './sequences';
import { switchEndpoint } from './switch-hook';
import { countSourceRows, countTargetRows, validateTables } from './validate';
import { validateLive } from './validate-live';
import { sourceClock, watchReplication } from './watch';
import type { ActivityDeps } from './deps';
import { withFailureCodes } from './failure';
import { withHeartbeat } from './heartbeat';
import { provisionDatabase } from './provision/local';
import { provisionLocalCluster } from './provision/local-cluster';
import { checkRestoredRows, checkRestoreTarget, restoreDatabase, verifyBackup } from './restore';
import { pruneBackups } from './retention';
import { copyRoles } from './roles';

/**
 * Builds every activity around its dependencies. Each is idempotent and safe to retry, and parses
 * its input once, here (domain/activity-inputs.ts): the implementations receive parsed values.
 */
export function createActivities(deps: ActivityDeps) {
  return withFailureCodes({
    provisionDatabase: activity(In.ProvisionDatabaseInput, (i) => provisionDatabase(deps, i)),
    provisionLocalCluster: activity(In.ProvisionClusterInput, (i) => provisionLocalCluster(deps, i)),
    checkBackupInput: activity(In.CheckBackupInput, (i) => checkBackupInput(deps, i)),
    dumpDatabase: activity(In.DumpInput, (i) => dumpDatabase(deps, i)),
    verifyBackup: activity(In.VerifyBackupInput, (i) => verifyBackup(deps, i)),
    checkRestoreTarget: activity(In.CheckRestoreTargetInput, (i) => checkRestoreTarget(deps, i)),
    restoreDatabase: activity(In.RestoreDatabaseInput, (i) => restoreDatabase(deps, i)),
    checkRestoredRows: activity(In.RestoredInput, (i) => checkRestoredRows(deps, i)),
    pruneBackups: activity(In.PruneBackupsInput, (i) => pruneBackups(deps, i)),
    runPreflight: activity(In.PreflightRunInput, (i) => runPreflight(deps, i)),
    copySchemaSection: activity(In.SchemaSectionInput, (i) => copySchemaSection(deps, i)),
    buildTableIndexes: activity(In.TableIndexesInput, (i) => buildTableIndexes(deps, i)),
    freezeSource: activity(In.FreezeSourceInput, (i) => freezeSource(deps, i)),
    // Both wait on locks (a setting's row, a database in use): they heartbeat meanwhile.
    unfreezeSource: activity(In.FreezeSourceInput, (i) =>
      withHeartbeat('lifting the write fence', () => unfreezeSource(deps, i)),
    ),
    verifyFence: activity(In.VerifyFenceInput, (i) => verifyFence(deps, i)),
    dropOwnTarget: activity(In.DropOwnTargetInput, (i) =>
      withHeartbeat('dropping the target database', () => dropOwnTarget(deps, i)),
    ),
    listCopyTables: activity(In.ListCopyTablesInput, (i) => listCopyTables(deps, i)),
    ensureLedger: activity(In.OnTarget, (i) => ensureLedger(deps, i)),
    copyChunk: activity(In.CopyChunkInput, (i) => copyChunk(deps, i)),
    copyChunks: activity(In.CopyChunksInput, (i) => copyChunks(deps, i)),
    setAsIsStorage: activity(In.AsIsStorageInput, (i) => setAsIsStorage(deps, i)),
    restoreStorage: activity(In.RestoreStorageInput, (i) => restoreStorage(deps, i)),
    chunksDone: activity(In.ChunksDoneInput, (i) => chunksDone(deps, i)),
    syncSequences: activity(In.SyncSequencesInput, (i) => syncSequences(deps, i)),
    copyLargeObjects: activity(In.OnBoth, (i) => copyLargeObjects(deps, i)),
    validateTables: activity(In.ValidateTablesInput, (i) => validateTables(deps, i)),
    countSourceRows: activity(In.OnSource, (i) => countSourceRows(deps, i)),
    countTargetRows: activity(In.CountTargetRowsInput, (i) => countTargetRows(deps, i)),
    validateLive: activity(In.ValidateLiveInput, (i) => validateLive(deps, i)),
    holdSlotSnapshot: activity(In.HoldSlotSnapshotInput, (i) => holdSlotSnapshot(deps, i)),
    awaitSnapshot: activity(In.AwaitSnapshotInput, (i) => awaitSnapshot(deps, i)),
    createPublication: activity(In.CreatePublicationInput, (i) => createPublication(deps, i)),
    createSubscription: activity(In.CreateSubscriptionInput, (i) => createSubscription(deps, i)),
    captureDdl: activity(In.CaptureDdlInput, (i) => captureDdl(deps, i)),
    listDdlChanges: activity(In.ListDdlInput, (i) => listDdlChanges(deps, i)),
    approveDdlChange: activity(In.ApproveDdlInput, (i) => approveDdlChange(deps, i)),
    joinNewTables: activity(In.JoinTablesInput, (i) => joinNewTables(deps, i)),
    replicationLag: activity(In.ReplicationLagInput, (i) => replicationLag(deps, i)),
    currentLsn: activity(In.OnSource, (i) => currentLsn(deps, i)),
    watchReplication: activity(In.WatchReplicationInput, (i) => watchReplication(deps, i)),
    sourceClock: activity(In.OnSource, (i) => sourceClock(deps, i)),
    waitForReplay: activity(In.WaitForReplayInput, (i) => waitForReplay(deps, i)),
    dropReplication: activity(In.DropReplicationInput, (i) => dropReplication(deps, i)),
    dropSubscription: activity(In.DropReplicationInput, (i) => dropSubscription(deps, i)),
    dropSourceReplication: activity(In.DropReplicationInput, (i) => dropSourceReplication(deps, i)),
    cleanSource: activity(In.CleanSourceInput, (i) => cleanSource(deps, i)),
    cleanTarget: activity(In.CleanTargetInput, (i) => cleanTarget(deps, i)),
    resetCopy: activity(In.ResetCopyInput, (i) => resetCopy(deps, i)),
    analyzeTarget: activity(In.AnalyzeTargetInput, (i) => analyzeTarget(deps, i)),
    switchEndpoint: activity(In.SwitchHookInput, (i) => switchEndpoint(deps, i)),
    openReverse: activity(In.ReverseReplicationInput, (i) => openReverse(deps, i)),
    subscribeReverse: activity(In.ReverseReplicationInput, (i) => subscribeReverse(deps, i)),
    closeReverse: activity(In.ReverseReplicationInput, (i) => closeReverse(deps, i)),
    notifyTargets: activity(In.NotifyTargetsInput, (i) => notifyTargets(deps, i)),
    notify: activity(In.NotifyInput, (i) => sendNotification(deps, i)),
    listDatabases: activity(In.OnSource, (i) => listDatabases(deps, i)),
    replicationRoom: activity(In.OnBoth, (i) => replicationRoom(deps, i)),
    // It waits for another copy of roles on the same target (a lock): it heartbeats meanwhile.
    copyRoles: activity(In.CopyRolesInput, (i) => withHeartbeat('copying roles', () => copyRoles(deps, i))),
    remindApproval: activity(In.RemindApprovalInput, (input) => remindApproval(deps, input)),
    /** Drops the ledger: the target holds nothing of pgferry's any more. Returns when (for downtime). */
    finalizeTarget: activity(In.OnTarget, async (input) => {
      await dropLedger(deps, input);
      return { at: Date.now() };
    }),
  });
}

/** A reminder that a migration waits for a decision, in the worker's log (chat and webhooks get it from `notify`). */
function remindApproval(deps: ActivityDeps, input: In.RemindApprovalInput): Promise<void> {
  deps.logger.warn(
    input,
    input.secondsLeft > 0 ? 'migration waits for approval' : 'approval deadline passed; still waiting',
  );
  return Promise.resolve();
}

/** The activities pgferry's workflows call, by name; workflows import this as a type only. */
export type Activities = ReturnType<typeof createActivities>;
