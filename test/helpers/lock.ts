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

/**
 * Opens a session on `url` that runs `statements` in a transaction and keeps it open until
 * released, holding whatever they lock: e.g. `ALTER SEQUENCE s INCREMENT BY 1` holds a lock that
 * makes every setval of `s` wait (LOCK TABLE takes no sequence).
 */
export async function holdLocks(url: string, statements: readonly string[]): Promise<HeldLock> {
  const client = new Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  await client.query('BEGIN');
  for (const statement of statements) await client.query(statement);
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
