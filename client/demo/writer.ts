import { Client } from 'pg';

/** What the demo's application saw: the rounds of writes that committed and the ones refused. */
export interface WriteTally {
  written: number;
  refused: number;
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * An application writing to `url` until stopped: `statements` in turn every `pauseMs`. A refused
 * round (the source frozen read-only, its session ended by the freeze) is counted, and the writer
 * reconnects and goes on, as an application would until it is pointed at the new primary.
 */
export function startWriteLoad(
  url: string,
  statements: readonly string[],
  pauseMs = 20,
): { tally: WriteTally; stop: () => Promise<WriteTally> } {
  let running = true;
  const tally: WriteTally = { written: 0, refused: 0 };
  const loop = (async () => {
    while (running) {
      const client = new Client({ connectionString: url });
      client.on('error', () => undefined);
      try {
        await client.connect();
        while (running) {
          for (const sql of statements) await client.query(sql);
          tally.written += 1;
          await pause(pauseMs);
        }
      } catch {
        tally.refused += 1;
        await pause(200);
      } finally {
        await client.end().catch(() => undefined);
      }
    }
  })();
  return {
    tally,
    stop: async () => {
      running = false;
      await loop;
      return tally;
    },
  };
}
