import { dbUrl, quoteIdent, withClient } from './db';
import { fillShape, manyTablesShape } from './shapes';

/** The database every member is cloned from; a template, so `pgferry fleet --all` leaves it out. */
export const FLEET_TEMPLATE = 'bench_fleet_template';

/** The role that owns the members' tables: the fleet copies it, the loop runs `pg_dumpall --roles-only`. */
const TENANT_ROLE = 'bench_tenant';

/** Orders per MB of user data: one order row with its share of accounts and indexes is ~150 bytes. */
const ORDERS_PER_MB = 7000;

/** Every third member holds large objects; every second has its own invoice number. */
const LARGE_OBJECT_EVERY = 3;

/** The members' names: tenant_001, tenant_002, … */
export function memberDatabases(count: number): string[] {
  const width = Math.max(3, String(count).length);
  return Array.from({ length: count }, (_, i) => `tenant_${String(i + 1).padStart(width, '0')}`);
}

/**
 * A small tenant's database: accounts, orders with a foreign key to them and an index on it, a
 * settings table (jsonb), identity sequences and one sequence of its own, all owned by the tenant
 * role; `sizeMb` of tables and indexes (pg_database_size adds ~7 MB of catalog to that).
 */
function templateSql(sizeMb: number): string[] {
  const orders = sizeMb * ORDERS_PER_MB;
  const accounts = Math.max(1, Math.floor(orders / 10));
  return [
    `CREATE TABLE public.accounts (id bigserial PRIMARY KEY, name text NOT NULL, email text NOT NULL UNIQUE, created timestamptz NOT NULL)`,
    `CREATE TABLE public.orders (id bigserial PRIMARY KEY, account_id bigint NOT NULL REFERENCES public.accounts,
       amount numeric(12,2) NOT NULL, placed timestamptz NOT NULL, note text)`,
    `CREATE TABLE public.settings (key text PRIMARY KEY, value jsonb NOT NULL)`,
    `CREATE SEQUENCE public.invoice_no START 1000`,
    `INSERT INTO public.accounts (name, email, created)
       SELECT 'account ' || g, 'a' || g || '@example.com', timestamptz '2024-01-01' + g * interval '1 minute'
         FROM generate_series(1, ${accounts}) g`,
    `INSERT INTO public.orders (account_id, amount, placed, note)
       SELECT 1 + g % ${accounts}, (g % 100000) / 100.0, timestamptz '2024-01-01' + g * interval '1 second',
              CASE WHEN g % 4 = 0 THEN NULL ELSE 'order note ' || md5(g::text) END
         FROM generate_series(1, ${orders}) g`,
    `CREATE INDEX orders_account ON public.orders (account_id, placed)`,
    `INSERT INTO public.settings VALUES ('plan', '{"tier": "small", "seats": 5}')`,
    `SELECT nextval('public.invoice_no') FROM generate_series(1, 10)`,
    ...['accounts', 'orders', 'settings', 'invoice_no'].map(
      (t) => `ALTER ${t === 'invoice_no' ? 'SEQUENCE' : 'TABLE'} public.${t} OWNER TO ${TENANT_ROLE}`,
    ),
    'VACUUM ANALYZE',
  ];
}

/** What the fleet's source cluster holds. */
export interface FleetSource {
  readonly databases: string[];
  /** Tables and indexes of one member, as made (the template's). */
  readonly userBytes: number;
  /** pg_database_size of one member. */
  readonly databaseBytes: number;
  readonly withLargeObjects: number;
  readonly seconds: number;
}

/**
 * Makes the template once, then each member as `CREATE DATABASE … TEMPLATE` (a file copy, fast),
 * each told apart after: its name in settings, every third with four large objects (32 kB each),
 * every second with its own invoice number.
 */
export async function makeFleetSource(server: string, count: number, sizeMb: number): Promise<FleetSource> {
  const began = Date.now();
  const admin = dbUrl(server, 'postgres');
  await withClient(admin, async (c) => {
    await c.query(`CREATE ROLE ${TENANT_ROLE} NOLOGIN`);
    await c.query(`CREATE DATABASE ${FLEET_TEMPLATE} OWNER ${TENANT_ROLE}`);
  });
  const sizes = await withClient(dbUrl(server, FLEET_TEMPLATE), async (c) => {
    for (const sql of templateSql(sizeMb)) await c.query(sql);
    const { rows } = await c.query<{ user_bytes: string; db_bytes: string }>(
      `SELECT (SELECT sum(pg_total_relation_size(oid)) FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace) AS user_bytes,
              pg_database_size(current_database()) AS db_bytes`,
    );
    return { user: Number(rows[0]?.user_bytes ?? 0), database: Number(rows[0]?.db_bytes ?? 0) };
  });
  await withClient(admin, (c) => c.query(`ALTER DATABASE ${FLEET_TEMPLATE} IS_TEMPLATE true`));
  const databases = memberDatabases(count);
  let withLargeObjects = 0;
  for (const [i, name] of databases.entries()) {
    await withClient(admin, (c) =>
      c.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${FLEET_TEMPLATE} OWNER ${TENANT_ROLE}`),
    );
    const largeObjects = i % LARGE_OBJECT_EVERY === 0;
    if (largeObjects) withLargeObjects += 1;
    await withClient(dbUrl(server, name), async (c) => {
      await c.query(`INSERT INTO public.settings VALUES ('tenant', to_jsonb(current_database()))`);
      if (i % 2 === 1) await c.query(`SELECT setval('public.invoice_no', $1)`, [2000 + i]);
      if (largeObjects)
        await c.query(
          `SELECT lo_from_bytea(0, decode(repeat(md5(current_database() || g), 2048), 'hex')) FROM generate_series(1, 4) g`,
        );
    });
  }
  return {
    databases,
    userBytes: sizes.user,
    databaseBytes: sizes.database,
    withLargeObjects,
    seconds: (Date.now() - began) / 1000,
  };
}

/** The many-tables database of the fleet run: the `many-tables` shape with `tables` tables. */
export async function makeManyTables(server: string, database: string, tables: number): Promise<void> {
  await withClient(dbUrl(server, 'postgres'), (c) => c.query(`CREATE DATABASE ${quoteIdent(database)}`));
  await withClient(dbUrl(server, database), async (c) => {
    await fillShape(c, manyTablesShape(tables));
    await c.query('VACUUM ANALYZE');
  });
}
