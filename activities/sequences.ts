import type { SyncSequencesInput } from '../domain/activity-inputs';
import { untilConfirmed } from './cutover';
import type { ActivityDeps } from './deps';
import { withHeartbeat } from './heartbeat';
import { compareSequences, readSequences } from './pg/catalog';
import { tableSql, withClient, withTransaction } from './pg/connect';
import { SEQUENCE_BATCH, SET_SEQUENCES } from './pg/sequences-sql';

/** READ WRITE: on a fallback the sequences go back to the old source, frozen until just after. */
const READ_WRITE_BEGIN = 'BEGIN READ WRITE';

/** What syncSequences set: how many, and each one's position on both sides as read after setting it. */
export interface SequencesSynced {
  readonly sequences: number;
  readonly compared: { name: string; source: string; target: string; ok: boolean }[];
}

/**
 * Sets every one of the user's sequences on the target (USER_SEQUENCES: identity, serial and
 * shared sequences alike) to the source's position (a fallback calls it with the sides swapped).
 * Idempotent: setval to the same value twice changes nothing.
 */
export async function syncSequences(deps: ActivityDeps, input: SyncSequencesInput): Promise<SequencesSynced> {
  // It runs while the source is frozen, and a setval waits behind whatever holds its sequence.
  return withHeartbeat('syncing the sequences', async (hb) => {
    if (input.after !== undefined) {
      hb.update({ detail: `waiting for the target to confirm ${input.after.lsn}` });
      await untilConfirmed(deps, input.after, hb.signal);
    }
    hb.update({ detail: 'reading the sequences' });
    const values = await withClient(
      input.source,
      deps.env,
      { field: 'source', doing: 'reading the sequences' },
      (c) => readSequences(c),
    );
    const set = await withClient(
      input.target,
      deps.env,
      { field: 'target', doing: 'setting the sequences' },
      (client) =>
        withTransaction(
          client,
          async () => {
            for (let start = 0; start < values.length; start += SEQUENCE_BATCH) {
              const batch = values.slice(start, start + SEQUENCE_BATCH);
              hb.update({
                detail: `setting sequences ${start + 1}–${start + batch.length} of ${values.length}`,
              });
              await client.query(SET_SEQUENCES, [
                batch.map((seq) => tableSql({ schema: seq.schema, table: seq.name })),
                batch.map((seq) => seq.lastValue),
                batch.map((seq) => seq.isCalled),
              ]);
            }
            // Read back in the same transaction: what the cutover's validation reports for the sequences.
            return readSequences(client);
          },
          READ_WRITE_BEGIN,
        ),
    );
    return { sequences: values.length, compared: compareSequences(values, set) };
  });
}
