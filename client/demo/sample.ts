import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

/**
 * The sample database: many schemas, quoted and non-ASCII names, partitions, large objects, RLS…
 * The package ships it (package.json "files"), so `pgferry demo` works from an install too.
 */
export const SAMPLE = path.resolve(
  __dirname,
  '..',
  '..',
  ...(__dirname.includes(`${path.sep}dist${path.sep}`) ? ['..'] : []),
  'test',
  'fixtures',
  'complex.sql',
);

/** Runs psql on `url` with `args` (a file, a command), stopping at the first error. */
export function psql(url: string, args: string[]): void {
  execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', ...args, url], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

/**
 * What the online tour adds to the sample: a replica identity for the tables without a primary key
 * (logical replication needs one to carry updates and deletes), the table the write load goes to,
 * and some volume, so that the copy takes a few batches and its throughput has a shape.
 */
export const ONLINE_ADDITIONS = `
ALTER TABLE public.raw_log REPLICA IDENTITY FULL;
ALTER TABLE inventory.stock_p0 REPLICA IDENTITY FULL;
ALTER TABLE inventory.stock_p1 REPLICA IDENTITY FULL;
CREATE TABLE public.checkouts (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), basket text NOT NULL);
CREATE TABLE public.order_events (id bigint PRIMARY KEY, kind text NOT NULL, payload text NOT NULL);
INSERT INTO public.order_events
  SELECT g, (ARRAY['created', 'paid', 'shipped', 'delivered'])[1 + g % 4], repeat(md5(g::text), 6)
  FROM generate_series(1, 120000) g;
ANALYZE;
`;

/** One round of the application's writes while it migrates: a new checkout, an older one changed. */
export const WRITE_LOAD = [
  "INSERT INTO public.checkouts (basket) VALUES ('basket ' || md5(clock_timestamp()::text))",
  "UPDATE public.checkouts SET basket = basket || '+' WHERE id = (SELECT max(id) - 5 FROM public.checkouts)",
];
