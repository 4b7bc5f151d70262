import { Client } from 'pg';
import { sleep } from './wait';

/** What an application writer saw: the write rounds that committed and the rounds refused. */
export interface WriterTally {
  readonly written: number;
  readonly refused: number;
}

/**
 * An application writing to `url` until stopped: runs `statements` in turn, pausing `pauseMs`
 * between rounds. A refused round (read-only, session ended by a freeze) is counted, and the
 * writer reconnects and tries again, as an application would.
 */
export function startWriter(
  url: string,
  statements: readonly string[],
  pauseMs = 10,
): { stop: () => Promise<WriterTally> } {
  let running = true;
  const tally = { written: 0, refused: 0 };
  const loop = (async () => {
    while (running) {
      const client = new Client({ connectionString: url });
      client.on('error', () => undefined);
      try {
        await client.connect();
        while (running) {
          for (const sql of statements) await client.query(sql);
          tally.written += 1;
          await sleep(pauseMs);
        }
      } catch (err) {
        // 25006: read-only transaction; 57P01: the freeze ended the session.
        if (['25006', '57P01'].includes((err as { code?: string }).code ?? '')) tally.refused += 1;
        await sleep(50);
      } finally {
        await client.end().catch(() => undefined);
      }
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return tally;
    },
  };
}
