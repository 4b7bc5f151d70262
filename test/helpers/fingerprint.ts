import type { Client } from 'pg';
import { quoteIdent, withClient } from './pg';

/** A JSON value as returned by PostgreSQL's jsonb. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Row count and order-independent md5 of one table's rows. */
export interface TableDataFingerprint {
  readonly rows: number;
  readonly md5: string;
}

/** Current state of one sequence. */
export interface SequenceValueFingerprint {
  readonly lastValue: string;
  readonly isCalled: boolean;
}

/** Content and metadata of one large object. */
export interface LargeObjectFingerprint {
  readonly md5: string;
  readonly size: number;
  readonly owner: string;
  readonly acl: string;
  readonly comment: string | null;
}

/**
 * Everything that makes two databases "the same", keyed by names (never oids, except large objects, whose
 * oids pg_dump preserves). Keys read like `index "Sales".orders_placed_at_idx` so diffs are self-explanatory.
 */
export interface DatabaseFingerprint {
  /** DDL-level objects: `<kind> <qualified name>` → details (definitions, owner, ACL, comment, ...). */
  readonly schema: Record<string, Record<string, JsonValue>>;
  /** `schema.table` (tables, partitions, matviews) → rows and md5. */
  readonly data: Record<string, TableDataFingerprint>;
  /** `schema.sequence` → last_value / is_called. */
  readonly sequences: Record<string, SequenceValueFingerprint>;
  readonly largeObjects: {
    readonly count: number;
    readonly objects: Record<string, LargeObjectFingerprint>;
  };
}

// Objects in these schemas come with every database; everything else is the user's.
const USER_SCHEMA = `n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'`;

// Objects created by an extension are recreated by CREATE EXTENSION, so only the extension itself counts.
const notExtensionMember = (catalog: string, oid: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_depend AS d WHERE d.classid = '${catalog}'::regclass AND d.objid = ${oid} AND d.deptype = 'e')`;

// NULL means "default privileges"; expanding it makes an explicit default grant compare equal to NULL, and
// sorting makes the (insertion) order of aclitems irrelevant.
const aclText = (acl: string, kind: string, owner: string) =>
  `(SELECT coalesce(string_agg(a::text, ',' ORDER BY a::text COLLATE "C"), '')
      FROM unnest(coalesce(${acl}, acldefault('${kind}', ${owner}))) AS a)`;

const qualifiedRelation = (ns: string, rel: string) => `format('%I.%I', ${ns}.nspname, ${rel}.relname)`;

const STORED_RELATION = `c.relkind IN ('r', 'p', 'm', 'v', 'f') AND ${USER_SCHEMA} AND ${notExtensionMember('pg_class', 'c.oid')}`;

/** One query per object class; each returns (key text, detail jsonb). */
const SCHEMA_QUERIES: readonly string[] = [
  `SELECT format('schema %I', n.nspname) AS key,
          jsonb_build_object('owner', pg_get_userbyid(n.nspowner), 'acl', ${aclText('n.nspacl', 'n', 'n.nspowner')},
                             'comment', obj_description(n.oid, 'pg_namespace')) AS detail
     FROM pg_namespace AS n
    WHERE ${USER_SCHEMA} AND ${notExtensionMember('pg_namespace', 'n.oid')}`,

  `SELECT format('extension %I', e.extname),
          jsonb_build_object('version', e.extversion, 'schema', n.nspname,
                             'comment', obj_description(e.oid, 'pg_extension'))
     FROM pg_extension AS e JOIN pg_namespace AS n ON n.oid = e.extnamespace`,

  `SELECT 'relation ' || ${qualifiedRelation('n', 'c')},
          jsonb_build_object(
            'kind', c.relkind::text,
            'persistence', c.relpersistence::text,
            'owner', pg_get_userbyid(c.relowner),
            'acl', ${aclText('c.relacl', 'r', 'c.relowner')},
            'rowSecurity', c.relrowsecurity,
            'forceRowSecurity', c.relforcerowsecurity,
            'replicaIdentity', c.relreplident::text,
            'options', (SELECT string_agg(o, ',' ORDER BY o COLLATE "C") FROM unnest(c.reloptions) AS o),
            'accessMethod', am.amname,
            'partitionKey', CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
            'partitionBound', pg_get_expr(c.relpartbound, c.oid),
            'parents', (SELECT jsonb_agg(${qualifiedRelation('pn', 'pc')} ORDER BY i.inhseqno)
                          FROM pg_inherits AS i
                          JOIN pg_class AS pc ON pc.oid = i.inhparent
                          JOIN pg_namespace AS pn ON pn.oid = pc.relnamespace
                         WHERE i.inhrelid = c.oid),
            'definition', CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END,
            'populated', c.relispopulated,
            'comment', obj_description(c.oid, 'pg_class'))
     FROM pg_class AS c
     JOIN pg_namespace AS n ON n.oid = c.relnamespace
     LEFT JOIN pg_am AS am ON am.oid = c.relam
    WHERE ${STORED_RELATION}`,

  `SELECT format('column %I.%I.%I', n.nspname, c.relname, a.attname),
          jsonb_build_object(
            'position', row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum),
            'type', format_type(a.atttypid, a.atttypmod),
            'notNull', a.attnotnull,
            'default', pg_get_expr(ad.adbin, ad.adrelid),
            'generated', a.attgenerated::text,
            'identity', a.attidentity::text,
            'collation', CASE WHEN a.attcollation <> t.typcollation THEN
                           (SELECT format('%I.%I', cn.nspname, co.collname)
                              FROM pg_collation AS co JOIN pg_namespace AS cn ON cn.oid = co.collnamespace
                             WHERE co.oid = a.attcollation) END,
            'storage', CASE WHEN a.attstorage <> t.typstorage THEN a.attstorage::text END,
            'acl', ${aclText('a.attacl', 'c', 'c.relowner')},
            'comment', col_description(c.oid, a.attnum))
     FROM pg_attribute AS a
     JOIN pg_class AS c ON c.oid = a.attrelid
     JOIN pg_namespace AS n ON n.oid = c.relnamespace
     JOIN pg_type AS t ON t.oid = a.atttypid
     LEFT JOIN pg_attrdef AS ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped AND ${STORED_RELATION}`,

  `SELECT format('index %I.%I', n.nspname, ic.relname),
          jsonb_build_object(
            'table', ${qualifiedRelation('n', 'c')},
            'definition', pg_get_indexdef(i.indexrelid),
            'clustered', i.indisclustered,
            'replicaIdentity', i.indisreplident,
            'valid', i.indisvalid,
            'parentIndex', (SELECT ${qualifiedRelation('pn', 'pc')}
                              FROM pg_inherits AS inh
                              JOIN pg_class AS pc ON pc.oid = inh.inhparent
                              JOIN pg_namespace AS pn ON pn.oid = pc.relnamespace
                             WHERE inh.inhrelid = i.indexrelid),
            'comment', obj_description(ic.oid, 'pg_class'))
     FROM pg_index AS i
     JOIN pg_class AS ic ON ic.oid = i.indexrelid
     JOIN pg_class AS c ON c.oid = i.indrelid
     JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE ${STORED_RELATION}`,

  `SELECT format('constraint %I.%I.%I', n.nspname, c.relname, co.conname),
          jsonb_build_object('type', co.contype::text, 'definition', pg_get_constraintdef(co.oid),
                             'validated', co.convalidated,
                             'comment', obj_description(co.oid, 'pg_constraint'))
     FROM pg_constraint AS co
     JOIN pg_class AS c ON c.oid = co.conrelid
     JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE ${STORED_RELATION}
   UNION ALL
   SELECT format('domain constraint %I.%I.%I', n.nspname, t.typname, co.conname),
          jsonb_build_object('type', co.contype::text, 'definition', pg_get_constraintdef(co.oid),
                             'validated', co.convalidated,
                             'comment', obj_description(co.oid, 'pg_constraint'))
     FROM pg_constraint AS co
     JOIN pg_type AS t ON t.oid = co.contypid
     JOIN pg_namespace AS n ON n.oid = t.typnamespace
    WHERE ${USER_SCHEMA} AND ${notExtensionMember('pg_type', 't.oid')}`,

  // Internal triggers implement foreign keys and carry oid-based names; the constraints cover them.
  `SELECT format('trigger %I.%I.%I', n.nspname, c.relname, tg.tgname),
          jsonb_build_object('definition', pg_get_triggerdef(tg.oid), 'enabled', tg.tgenabled::text,
                             'comment', obj_description(tg.oid, 'pg_trigger'))
     FROM pg_trigger AS tg
     JOIN pg_class AS c ON c.oid = tg.tgrelid
     JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE NOT tg.tgisinternal AND ${STORED_RELATION}`,

  `SELECT format('policy %I.%I.%I', n.nspname, c.relname, p.polname),
          jsonb_build_object(
            'command', p.polcmd::text,
            'permissive', p.polpermissive,
            'roles', (SELECT jsonb_agg(r ORDER BY r COLLATE "C")
                        FROM (SELECT CASE WHEN role = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(role)::text END AS r
                                FROM unnest(p.polroles) AS role) AS roles),
            'using', pg_get_expr(p.polqual, p.polrelid),
            'check', pg_get_expr(p.polwithcheck, p.polrelid),
            'comment', obj_description(p.oid, 'pg_policy'))
     FROM pg_policy AS p
     JOIN pg_class AS c ON c.oid = p.polrelid
     JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE ${STORED_RELATION}`,

  `SELECT format('rule %I.%I.%I', n.nspname, c.relname, r.rulename),
          jsonb_build_object('definition', pg_get_ruledef(r.oid), 'enabled', r.ev_enabled::text,
                             'comment', obj_description(r.oid, 'pg_rewrite'))
     FROM pg_rewrite AS r
     JOIN pg_class AS c ON c.oid = r.ev_class
     JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE r.rulename <> '_RETURN' AND ${STORED_RELATION}`,

  `SELECT format('statistics %I.%I', n.nspname, s.stxname),
          jsonb_build_object('definition', pg_get_statisticsobjdef(s.oid), 'owner', pg_get_userbyid(s.stxowner),
                             'comment', obj_description(s.oid, 'pg_statistic_ext'))
     FROM pg_statistic_ext AS s
     JOIN pg_namespace AS n ON n.oid = s.stxnamespace
    WHERE ${USER_SCHEMA}`,

  // int8 settings go through text: JSON numbers would lose precision above 2^53.
  `SELECT 'sequence ' || ${qualifiedRelation('n', 'c')},
          jsonb_build_object(
            'type', format_type(s.seqtypid, NULL),
            'start', s.seqstart::text,
            'increment', s.seqincrement::text,
            'min', s.seqmin::text,
            'max', s.seqmax::text,
            'cache', s.seqcache::text,
            'cycle', s.seqcycle,
            'persistence', c.relpersistence::text,
            'owner', pg_get_userbyid(c.relowner),
            'acl', ${aclText('c.relacl', 's', 'c.relowner')},
            'ownedBy', (SELECT format('%I.%I.%I', dn.nspname, dc.relname, da.attname)
                               || CASE d.deptype WHEN 'i' THEN ' (identity)' ELSE '' END
                          FROM pg_depend AS d
                          JOIN pg_class AS dc ON dc.oid = d.refobjid
                          JOIN pg_namespace AS dn ON dn.oid = dc.relnamespace
                          JOIN pg_attribute AS da ON da.attrelid = d.refobjid AND da.attnum = d.refobjsubid
                         WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                           AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
                           AND d.refobjsubid > 0
                         LIMIT 1),
            'comment', obj_description(c.oid, 'pg_class'))
     FROM pg_sequence AS s
     JOIN pg_class AS c ON c.oid = s.seqrelid
     JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE ${USER_SCHEMA} AND ${notExtensionMember('pg_class', 'c.oid')}`,

  // pg_get_functiondef refuses aggregates; their signature and result still identify them.
  `SELECT format('function %I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
          jsonb_build_object(
            'kind', p.prokind::text,
            'definition', CASE WHEN p.prokind <> 'a' THEN pg_get_functiondef(p.oid) END,
            'result', pg_get_function_result(p.oid),
            'owner', pg_get_userbyid(p.proowner),
            'acl', ${aclText('p.proacl', 'f', 'p.proowner')},
            'comment', obj_description(p.oid, 'pg_proc'))
     FROM pg_proc AS p
     JOIN pg_namespace AS n ON n.oid = p.pronamespace
    WHERE ${USER_SCHEMA} AND ${notExtensionMember('pg_proc', 'p.oid')}`,

  // Array, table row and multirange types are implied by their base objects, so only standalone types count.
  `SELECT format('type %I.%I', n.nspname, t.typname),
          jsonb_build_object(
            'kind', t.typtype::text,
            'labels', CASE WHEN t.typtype = 'e' THEN
                        (SELECT jsonb_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum AS e
                          WHERE e.enumtypid = t.oid) END,
            'baseType', CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END,
            'notNull', t.typnotnull,
            'default', t.typdefault,
            'collation', CASE WHEN t.typtype = 'd' AND t.typcollation <> bt.typcollation THEN
                           (SELECT format('%I.%I', cn.nspname, co.collname)
                              FROM pg_collation AS co JOIN pg_namespace AS cn ON cn.oid = co.collnamespace
                             WHERE co.oid = t.typcollation) END,
            'attributes', CASE WHEN t.typtype = 'c' THEN
                            (SELECT jsonb_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod))
                                              ORDER BY a.attnum)
                               FROM pg_attribute AS a
                              WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) END,
            'subtype', CASE WHEN t.typtype = 'r' THEN
                         (SELECT format_type(r.rngsubtype, NULL) FROM pg_range AS r WHERE r.rngtypid = t.oid) END,
            'owner', pg_get_userbyid(t.typowner),
            'acl', ${aclText('t.typacl', 'T', 't.typowner')},
            'comment', obj_description(t.oid, 'pg_type'))
     FROM pg_type AS t
     JOIN pg_namespace AS n ON n.oid = t.typnamespace
     LEFT JOIN pg_type AS bt ON bt.oid = t.typbasetype
    WHERE ${USER_SCHEMA} AND ${notExtensionMember('pg_type', 't.oid')}
      AND (t.typtype IN ('e', 'd', 'r')
           OR (t.typtype = 'c' AND (SELECT tc.relkind FROM pg_class AS tc WHERE tc.oid = t.typrelid) = 'c'))`,

  `SELECT format('default privileges of %I in %s on %s', pg_get_userbyid(da.defaclrole),
                 coalesce(quote_ident(n.nspname), 'all schemas'), da.defaclobjtype::text),
          jsonb_build_object('acl', (SELECT coalesce(string_agg(a::text, ',' ORDER BY a::text COLLATE "C"), '')
                                       FROM unnest(da.defaclacl) AS a))
     FROM pg_default_acl AS da
     LEFT JOIN pg_namespace AS n ON n.oid = da.defaclnamespace`,
];

// Output formats of dates, floats, bytea and names depend on these, so pin them for both databases.
// search_path = pg_catalog makes every definition function schema-qualify user objects.
const SESSION_SETTINGS = [
  "SET LOCAL search_path = 'pg_catalog'",
  "SET LOCAL TimeZone = 'UTC'",
  "SET LOCAL DateStyle = 'ISO, YMD'",
  "SET LOCAL IntervalStyle = 'postgres'",
  'SET LOCAL extra_float_digits = 1',
  "SET LOCAL bytea_output = 'hex'",
  "SET LOCAL lc_monetary = 'C'",
  'SET LOCAL row_security = off',
  'SET LOCAL statement_timeout = 0',
];

interface StoredRelation {
  key: string;
  nspname: string;
  relname: string;
  populated: boolean;
  columns: string[];
}

async function schemaFingerprint(client: Client): Promise<Record<string, Record<string, JsonValue>>> {
  const entries: [string, Record<string, JsonValue>][] = [];
  for (const sql of SCHEMA_QUERIES) {
    const result = await client.query<{ key: string; detail: Record<string, JsonValue> }>(
      `SELECT key, detail FROM (${sql}) AS q(key, detail) ORDER BY key COLLATE "C", detail::text COLLATE "C"`,
    );
    for (const row of result.rows) entries.push([row.key, row.detail]);
  }
  const schema: Record<string, Record<string, JsonValue>> = {};
  for (const [key, detail] of entries) {
    // A few catalogs allow the same name twice (e.g. FK constraints referencing a partitioned table).
    let unique = key;
    for (let n = 2; unique in schema; n++) unique = `${key} #${n}`;
    schema[unique] = detail;
  }
  return schema;
}

async function dataFingerprint(client: Client): Promise<Record<string, TableDataFingerprint>> {
  const relations = await client.query<StoredRelation>(
    `SELECT ${qualifiedRelation('n', 'c')} AS key, n.nspname, c.relname, c.relispopulated AS populated,
            coalesce((SELECT array_agg(a.attname::text ORDER BY a.attname COLLATE "C")
                        FROM pg_attribute AS a
                       WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '{}') AS columns
       FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'm') AND ${USER_SCHEMA} AND ${notExtensionMember('pg_class', 'c.oid')}
      ORDER BY n.nspname, c.relname`,
  );
  const data: Record<string, TableDataFingerprint> = {};
  for (const rel of relations.rows) {
    if (!rel.populated) {
      data[rel.key] = { rows: 0, md5: 'unpopulated' };
      continue;
    }
    // Columns by name, not attnum: dropped columns or a different physical order must not matter.
    const row = `ROW(${rel.columns.map((c) => `t.${quoteIdent(c)}`).join(', ')})`;
    const result = await client.query<{ rows: string; md5: string | null }>(
      `SELECT count(*) AS rows, md5(string_agg(h, '' ORDER BY h COLLATE "C")) AS md5
         FROM (SELECT md5(${row}::text) AS h FROM ONLY ${quoteIdent(rel.nspname)}.${quoteIdent(rel.relname)} AS t) AS x`,
    );
    const first = result.rows[0];
    data[rel.key] = { rows: Number(first?.rows ?? 0), md5: first?.md5 ?? 'empty' };
  }
  return data;
}

async function sequenceFingerprint(client: Client): Promise<Record<string, SequenceValueFingerprint>> {
  const sequences = await client.query<{ key: string; nspname: string; relname: string }>(
    `SELECT ${qualifiedRelation('n', 'c')} AS key, n.nspname, c.relname
       FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
      WHERE c.relkind = 'S' AND ${USER_SCHEMA} AND ${notExtensionMember('pg_class', 'c.oid')}
      ORDER BY n.nspname, c.relname`,
  );
  const values: Record<string, SequenceValueFingerprint> = {};
  for (const seq of sequences.rows) {
    const result = await client.query<{ last_value: string; is_called: boolean }>(
      `SELECT last_value::text AS last_value, is_called FROM ${quoteIdent(seq.nspname)}.${quoteIdent(seq.relname)}`,
    );
    const first = result.rows[0];
    if (first) values[seq.key] = { lastValue: first.last_value, isCalled: first.is_called };
  }
  return values;
}

async function largeObjectFingerprint(client: Client): Promise<DatabaseFingerprint['largeObjects']> {
  const result = await client.query<{
    oid: string;
    md5: string;
    size: number;
    owner: string;
    acl: string;
    comment: string | null;
  }>(
    `SELECT l.oid::text AS oid, md5(lo_get(l.oid)) AS md5, length(lo_get(l.oid)) AS size,
            pg_get_userbyid(l.lomowner)::text AS owner, ${aclText('l.lomacl', 'L', 'l.lomowner')} AS acl,
            obj_description(l.oid, 'pg_largeobject') AS comment
       FROM pg_largeobject_metadata AS l
      ORDER BY l.oid`,
  );
  const objects: Record<string, LargeObjectFingerprint> = {};
  for (const { oid, ...rest } of result.rows) objects[oid] = rest;
  return { count: result.rows.length, objects };
}

/** Computes a deterministic, name-keyed fingerprint of a database's schema, data, sequences and large objects. */
export async function databaseFingerprint(url: string): Promise<DatabaseFingerprint> {
  return withClient(url, async (client) => {
    // One snapshot for every query, so a concurrent writer cannot make the parts disagree.
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      for (const setting of SESSION_SETTINGS) await client.query(setting);
      const schema = await schemaFingerprint(client);
      const data = await dataFingerprint(client);
      const sequences = await sequenceFingerprint(client);
      const largeObjects = await largeObjectFingerprint(client);
      return { schema, data, sequences, largeObjects };
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
    }
  });
}

const MAX_VALUE_LENGTH = 200;

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? 'undefined';
  return text.length > MAX_VALUE_LENGTH ? `${text.slice(0, MAX_VALUE_LENGTH)}…` : text;
}

function diffRecords<V>(
  label: string,
  a: Record<string, V>,
  b: Record<string, V>,
  describe: (key: string, x: V, y: V) => string[],
): string[] {
  const lines: string[] = [];
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  for (const key of keys) {
    const x = a[key];
    const y = b[key];
    if (x === undefined) lines.push(`${label}${key}: only in the second database: ${show(y)}`);
    else if (y === undefined) lines.push(`${label}${key}: only in the first database: ${show(x)}`);
    else lines.push(...describe(key, x, y));
  }
  return lines;
}

/** Lists human-readable differences between two fingerprints; empty when the databases are identical. */
export function diffFingerprints(a: DatabaseFingerprint, b: DatabaseFingerprint): string[] {
  const fields = <V extends object>(prefix: string, x: V, y: V): string[] => {
    const xr = x as Record<string, unknown>;
    const yr = y as Record<string, unknown>;
    const names = [...new Set([...Object.keys(xr), ...Object.keys(yr)])].sort();
    return names
      .filter((name) => JSON.stringify(xr[name]) !== JSON.stringify(yr[name]))
      .map((name) => `${prefix}: ${name} differs: ${show(xr[name])} vs ${show(yr[name])}`);
  };
  const lines = [
    ...diffRecords('', a.schema, b.schema, (key, x, y) => fields(key, x, y)),
    ...diffRecords('data ', a.data, b.data, (key, x, y) => fields(`data ${key}`, x, y)),
    ...diffRecords('sequence value ', a.sequences, b.sequences, (key, x, y) =>
      fields(`sequence value ${key}`, x, y),
    ),
    ...diffRecords('large object ', a.largeObjects.objects, b.largeObjects.objects, (key, x, y) =>
      fields(`large object ${key}`, x, y),
    ),
  ];
  if (a.largeObjects.count !== b.largeObjects.count) {
    lines.push(`large objects: count differs: ${a.largeObjects.count} vs ${b.largeObjects.count}`);
  }
  return lines;
}
