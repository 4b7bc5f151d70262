import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import type { CleanupOptions } from '../domain/contracts';
import { ErrorCode, PgferryError } from '../domain/errors';
import type { TableColumns } from '../domain/tables';
import type { EncryptionCodec } from '../worker/codec';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

async function decoded(codec: EncryptionCodec, payloads: Payload[] | null | undefined): Promise<unknown> {
  if (!payloads || payloads.length === 0) return undefined;
  const [payload] = await codec.decode(payloads);
  return payload ? defaultPayloadConverter.fromPayload(payload) : undefined;
}

/**
 * What `pgferry cleanup` needs to know of a migration, read from its history (the source of
 * truth): its source and target as it was started, the columns its copy set to EXTERNAL storage
 * (setAsIsStorage's results), and whether it passed its point of no return (finalizeTarget
 * completed: the target became the primary, and the source stays retired).
 */
export async function cleanupInputFromHistory(
  id: string,
  events: readonly HistoryEvent[],
  codec: EncryptionCodec,
  dryRun: boolean,
): Promise<CleanupOptions> {
  const started = events[0]?.workflowExecutionStartedEventAttributes;
  const input = (await decoded(codec, started?.input?.payloads)) as
    { source?: unknown; target?: unknown } | undefined;
  if (
    started?.workflowType?.name !== 'migration' ||
    typeof input?.source !== 'string' ||
    typeof input.target !== 'string'
  ) {
    throw new PgferryError(
      ErrorCode.InvalidInput,
      `name: ${id} is not a pgferry migration (its history holds no migration input)`,
      {
        field: 'name',
        fix: 'give the name of a migration, as `pgferry list` shows it',
      },
    );
  }
  const activities = new Map<string, string>();
  const storage: TableColumns[] = [];
  let retired = false;
  for (const event of events) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) activities.set(String(event.eventId), scheduled.activityType?.name ?? '');
    const completed = event.activityTaskCompletedEventAttributes;
    if (!completed) continue;
    const activity = activities.get(String(completed.scheduledEventId));
    if (activity === 'finalizeTarget') retired = true;
    if (activity === 'setAsIsStorage') {
      const result = (await decoded(codec, completed.result?.payloads)) as
        { tables?: TableColumns[] } | undefined;
      storage.push(...(result?.tables ?? []));
    }
  }
  return { migration: id, source: input.source, target: input.target, retired, storage, dryRun };
}
