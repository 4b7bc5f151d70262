import * as path from 'node:path';
import { dbUrl, withClient } from './db';
import { say } from './log';
import { run } from './proc';

/** The regression database's name on the shared server: kept between runs, it takes minutes to make. */
export const REGRESSION_DB = 'bench_regression';

/** The comment that marks the database as complete (the suite ran to its end and it was vacuumed). */
const MARKER = 'pgferry bench: PostgreSQL regression database, complete';

const SCRIPT = path.join(__dirname, 'regression-db.sh');

async function isComplete(server: string): Promise<boolean> {
  return withClient(dbUrl(server, 'postgres'), async (c) => {
    const { rows } = await c.query<{ comment: string | null }>(
      `SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1`,
      [REGRESSION_DB],
    );
    return rows[0]?.comment === MARKER;
  });
}

/**
 * PostgreSQL's regression database on the server: the one an earlier run made, or a new one made
 * by bench/regression-db.sh (the server's sources from Debian, the regression suite run into it).
 * Returns why it cannot be had instead of throwing: the other shapes still run without it.
 */
export async function regressionSource(
  server: string,
  major: number,
): Promise<{ database: string } | { unavailable: string }> {
  if (await isComplete(server)) {
    say(`${REGRESSION_DB}: made by an earlier run, kept (drop it to make it again)`);
    return { database: REGRESSION_DB };
  }
  const url = new URL(server);
  say(`making ${REGRESSION_DB} with bench/regression-db.sh (PostgreSQL ${major}'s regression suite)…`);
  const made = await run('bash', [
    SCRIPT,
    String(major),
    url.hostname,
    url.port || '5432',
    decodeURIComponent(url.username),
    REGRESSION_DB,
  ]);
  for (const line of made.stderr.trim().split('\n')) if (line) say(`  ${line}`);
  const exists = await withClient(dbUrl(server, 'postgres'), async (c) => {
    const { rows } = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [REGRESSION_DB]);
    return rows.length > 0;
  });
  if (made.code !== 0 || !exists) {
    return {
      unavailable: `bench/regression-db.sh exited ${made.code ?? made.signal}: ${made.stderr.trim().split('\n').slice(-4).join(' / ')}`,
    };
  }
  await withClient(dbUrl(server, REGRESSION_DB), (c) => c.query('VACUUM ANALYZE'));
  await withClient(dbUrl(server, 'postgres'), (c) =>
    c.query(`COMMENT ON DATABASE ${REGRESSION_DB} IS '${MARKER}'`),
  );
  return { database: REGRESSION_DB };
}
