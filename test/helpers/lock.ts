import { Client } from 'pg';

/** A session holding a lock until released. */
export interface HeldLock {
  release(): Promise<void>;
}

/**
 * Opens a session on `url` that takes an ACCESS EXCLUSIVE lock on `table` and holds it, in an open
 * transaction, until released: a logical replication apply worker that reaches a change of that
 * table waits on it (a stalled apply, as a long transaction on the target would cause).
 */
export async function holdTableLock(url: string, table: string): Promise<HeldLock> {
  const client = new Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  await client.query('BEGIN');
  await client.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      await client.query('ROLLBACK').catch(() => undefined);
      await client.end().catch(() => undefined);
    },
  };
}
