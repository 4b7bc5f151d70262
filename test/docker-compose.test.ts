import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildProgram } from '../client/cli';
import { DEFAULTS, SEARCH_ATTRIBUTES } from '../domain/constants';
import { TEMPORAL_SERVER_VERSION } from '../worker/temporal-server';

// No Docker engine runs in the test environment, so the stack is never started: these tests keep
// docker-compose.yml and the Dockerfile in step with the code's defaults and its CLI instead.

const ROOT = path.resolve(__dirname, '..');

function read(file: string): string {
  return readFileSync(path.join(ROOT, file), 'utf8');
}

/** Compose lets most keys be a list or a map; only the shape these tests read is checked. */
const Environment = z.union([
  z.array(z.string()),
  z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
]);
const Service = z.looseObject({
  image: z.string().optional(),
  build: z
    .union([z.string(), z.looseObject({ context: z.string(), dockerfile: z.string().optional() })])
    .optional(),
  command: z.union([z.string(), z.array(z.string())]).optional(),
  environment: Environment.optional(),
  ports: z.array(z.string()).optional(),
  depends_on: z.union([z.array(z.string()), z.record(z.string(), z.unknown())]).optional(),
  volumes: z.array(z.string()).optional(),
  entrypoint: z.union([z.string(), z.array(z.string())]).optional(),
  deploy: z.looseObject({ replicas: z.number().optional() }).optional(),
});
type Service = z.infer<typeof Service>;
const ComposeFile = z.looseObject({
  services: z.record(z.string(), Service),
  volumes: z.record(z.string(), z.unknown().nullable()).optional(),
});

const compose = ComposeFile.parse(parse(read('docker-compose.yml')));

function service(name: string): Service {
  const found = compose.services[name];
  if (!found) throw new Error(`docker-compose.yml has no service "${name}"`);
  return found;
}

function environment(s: Service): Record<string, string> {
  const env = s.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((line) => [line.split('=')[0]!, line.slice(line.indexOf('=') + 1)]));
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

function words(command: string | string[] | undefined): string[] {
  if (command === undefined) return [];
  return typeof command === 'string' ? command.split(/\s+/).filter(Boolean) : command;
}

function commandWords(s: Service): string[] {
  return words(s.command);
}

/** The condition `s` waits for on `dependency` (service_started when listed without one). */
function condition(s: Service, dependency: string): string | undefined {
  const deps = s.depends_on ?? [];
  if (Array.isArray(deps)) return deps.includes(dependency) ? 'service_started' : undefined;
  const entry = deps[dependency] as { condition?: string } | undefined;
  return entry === undefined ? undefined : (entry.condition ?? 'service_started');
}

/** `HOST:CONTAINER` (optionally `IP:HOST:CONTAINER`) as numbers. */
function ports(s: Service): { host: number; container: number }[] {
  return (s.ports ?? []).map((spec) => {
    const parts = spec.split(':');
    return { host: Number(parts[parts.length - 2]), container: Number(parts[parts.length - 1]) };
  });
}

function dependencies(s: Service): string[] {
  const deps = s.depends_on ?? [];
  return Array.isArray(deps) ? deps : Object.keys(deps);
}

function volumeTargets(s: Service): Map<string, string> {
  return new Map((s.volumes ?? []).map((v) => [v.split(':')[1] ?? '', v.split(':')[0] ?? '']));
}

/** The variables worker/config.ts reads: the keys of its (unexported) EnvSchema. */
function configVariables(): string[] {
  const source = read('worker/config.ts');
  const schema = /const EnvSchema = z\.object\(\{([\s\S]*?)\n\}\);/.exec(source)?.[1] ?? '';
  return [...schema.matchAll(/^\s+((?:PGFERRY|TEMPORAL)_[A-Z0-9_]+):/gm)].map((m) => m[1]!);
}

/**
 * The Temporal connection variables: worker/temporal-connection.ts reads them through
 * @temporalio/envconfig, as the Temporal CLI does (TEMPORAL_GRPC_META_* aside).
 */
const TEMPORAL_VARIABLES = [
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS',
  'TEMPORAL_TLS_CLIENT_CERT_PATH',
  'TEMPORAL_TLS_CLIENT_KEY_PATH',
  'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
  'TEMPORAL_TLS_SERVER_NAME',
  'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION',
  'TEMPORAL_PROFILE',
  'TEMPORAL_CONFIG_FILE',
];

/** Variables libpq (pg_dump, pg_restore) and node-postgres read on the worker. */
const LIBPQ_VARIABLES = ['PGPASSFILE'];

const worker = service('pgferry-worker');

describe('docker-compose.yml', () => {
  it('exposes Temporal on the default port.', () => {
    expect(ports(service('temporal'))).toContainEqual({ host: DEFAULTS.temporalPort, container: 7233 });
  });

  it('keeps Temporal history in its own PostgreSQL server.', () => {
    const env = environment(service('temporal'));
    expect(env.DB).toBe('postgres12');
    expect(compose.services[env.POSTGRES_SEEDS ?? '']).toBeDefined();
    expect(service('temporal-db').image).toMatch(/^postgres:/);
    expect(dependencies(service('temporal-schema'))).toContain(env.POSTGRES_SEEDS);
  });

  it('runs the Temporal server (not auto-setup, not the dev server) of the release pgferry builds and tests with.', () => {
    expect(service('temporal').image).toBe(`temporalio/server:${TEMPORAL_SERVER_VERSION}`);
    for (const name of ['temporal-schema', 'temporal-namespace']) {
      expect(service(name).image).toMatch(new RegExp(`^temporalio/admin-tools:${TEMPORAL_SERVER_VERSION}-`));
    }
    for (const s of Object.values(compose.services)) expect(s.image ?? '').not.toMatch(/auto-setup|:latest$/);
  });

  it('creates the schema with docker/temporal/setup-schema.sh before the server starts, on the same database and user.', () => {
    const setup = service('temporal-schema');
    expect(words(setup.entrypoint)).toEqual(['sh', '/pgferry/setup-schema.sh']);
    expect(volumeTargets(setup).get('/pgferry')).toBe('./docker/temporal');
    expect(existsSync(path.join(ROOT, 'docker/temporal/setup-schema.sh'))).toBe(true);
    expect(condition(service('temporal'), 'temporal-schema')).toBe('service_completed_successfully');
    expect(condition(setup, 'temporal-db')).toBe('service_healthy');
    const server = environment(service('temporal'));
    const env = environment(setup);
    expect([env.POSTGRES_SEEDS, env.DB_PORT, env.POSTGRES_USER, env.SQL_PASSWORD]).toEqual([
      server.POSTGRES_SEEDS,
      server.DB_PORT,
      server.POSTGRES_USER,
      server.POSTGRES_PWD,
    ]);
  });

  it('gives the server the dynamic config the test runs it with.', () => {
    const file = environment(service('temporal')).DYNAMIC_CONFIG_FILE_PATH ?? '';
    expect(volumeTargets(service('temporal')).get(file)).toBe('./docker/temporal/dynamicconfig.yaml');
    expect(existsSync(path.join(ROOT, 'docker/temporal/dynamicconfig.yaml'))).toBe(true);
  });

  it("registers the workers' namespace and every pgferry search attribute before any worker starts.", () => {
    const setup = service('temporal-namespace');
    expect(words(setup.entrypoint)).toEqual(['sh', '/pgferry/setup-namespace.sh']);
    expect(volumeTargets(setup).get('/pgferry')).toBe('./docker/temporal');
    expect(environment(setup).NAMESPACE).toBe(environment(worker).TEMPORAL_NAMESPACE);
    expect(environment(setup).TEMPORAL_ADDRESS).toBe(environment(worker).TEMPORAL_ADDRESS);
    expect(condition(worker, 'temporal-namespace')).toBe('service_completed_successfully');
    const script = read('docker/temporal/setup-namespace.sh');
    const named = [...script.matchAll(/--name (Pgferry\w+)/g)].map((m) => m[1]);
    expect(named.sort()).toEqual([...SEARCH_ATTRIBUTES].sort());
    expect(script).toMatch(/search-attribute create --namespace "\$NAMESPACE" --type Keyword/);
  });

  it('runs two pgferry workers.', () => {
    expect(worker.deploy?.replicas).toBe(2);
  });

  it('maps the UI to the default UI port, pointed at the temporal service.', () => {
    const ui = service('temporal-ui');
    expect(ports(ui)).toContainEqual({ host: DEFAULTS.uiPort, container: 8080 });
    expect(environment(ui).TEMPORAL_ADDRESS).toBe(`temporal:${DEFAULTS.temporalPort}`);
  });

  it("points the worker's TEMPORAL_ADDRESS at the temporal service on 7233.", () => {
    const [host, port] = (environment(worker).TEMPORAL_ADDRESS ?? '').split(':');
    expect(host).toBe('temporal');
    expect(compose.services[host!]).toBeDefined();
    expect(Number(port)).toBe(DEFAULTS.temporalPort);
    expect(ports(service(host!)).map((p) => p.container)).toContain(Number(port));
  });

  it('gives the worker the default namespace.', () => {
    expect(environment(worker).TEMPORAL_NAMESPACE).toBe(DEFAULTS.temporalNamespace);
  });

  it('runs the worker with a command the pgferry CLI has.', () => {
    const names = buildProgram().commands.map((c) => c.name());
    const [command] = commandWords(worker);
    expect(command).toBe('worker');
    expect(names).toContain(command);
  });

  it('builds the worker from the Dockerfile at the repository root.', () => {
    const build = worker.build;
    const context = typeof build === 'string' ? build : (build?.context ?? '');
    const dockerfile = typeof build === 'object' ? (build.dockerfile ?? 'Dockerfile') : 'Dockerfile';
    expect(path.resolve(ROOT, context)).toBe(ROOT);
    expect(existsSync(path.join(ROOT, context, dockerfile))).toBe(true);
  });

  it('runs the source and target servers with wal_level=logical.', () => {
    for (const name of ['source', 'target']) {
      const words = commandWords(service(name));
      expect(words[0]).toBe('postgres');
      expect(words).toContain('wal_level=logical');
      expect(words[words.indexOf('wal_level=logical') - 1]).toBe('-c');
    }
  });

  it('runs a target whose major version is at least the source major.', () => {
    const major = (name: string) => Number(/^postgres:(\d+)/.exec(service(name).image ?? '')?.[1]);
    expect(major('source')).toBe(15);
    expect(major('target')).toBe(17);
    expect(major('target')).toBeGreaterThanOrEqual(major('source'));
  });

  it('names only existing services in every depends_on.', () => {
    const names = Object.keys(compose.services);
    for (const [name, s] of Object.entries(compose.services)) {
      for (const dep of dependencies(s)) {
        expect(names, `${name} depends on ${dep}`).toContain(dep);
      }
    }
    expect(dependencies(worker)).toContain('temporal');
  });

  it('declares every named volume a service mounts.', () => {
    const declared = Object.keys(compose.volumes ?? {});
    for (const s of Object.values(compose.services)) {
      for (const [, source] of volumeTargets(s)) {
        if (!source.startsWith('.') && !source.startsWith('/')) expect(declared).toContain(source);
      }
    }
  });

  it('reads the worker settings from worker/config.ts, so that the list below cannot go stale unnoticed.', () => {
    const names = configVariables();
    expect(read('worker/temporal-connection.ts')).toMatch(/from '@temporalio\/envconfig'/);
    expect(names).toContain('PGFERRY_CODEC_KEY');
    expect(names).toContain('PGFERRY_DATA_CONCURRENCY');
  });

  it('sets on the worker only variables that worker/config.ts, envconfig or libpq reads.', () => {
    const known = [...configVariables(), ...TEMPORAL_VARIABLES, ...LIBPQ_VARIABLES];
    for (const name of Object.keys(environment(worker))) expect(known).toContain(name);
  });

  it('takes the codec key from the environment of docker compose, never from the file itself.', () => {
    expect(environment(worker).PGFERRY_CODEC_KEY).toMatch(/^\$\{PGFERRY_CODEC_KEY(:?\?[^}]*)?\}$/);
  });

  it('mounts a backups volume at /backups on the worker.', () => {
    expect(volumeTargets(worker).get('/backups')).toBe('backups');
  });

  it('points PGPASSFILE at a pgpass file that holds the demo passwords for source and target.', () => {
    const file = environment(worker).PGPASSFILE ?? '';
    const mounted = volumeTargets(worker).get(path.posix.dirname(file));
    expect(mounted, `${path.posix.dirname(file)} is mounted on the worker`).toBeDefined();
    const lines = read('docker/pgpass')
      .split('\n')
      .filter((line) => line.trim() !== '' && !line.startsWith('#'))
      .map((line) => line.split(':'));
    for (const line of lines) expect(line).toHaveLength(5);
    for (const name of ['source', 'target']) {
      const password = environment(service(name)).POSTGRES_PASSWORD;
      expect(password, `${name} sets POSTGRES_PASSWORD`).toBeTruthy();
      // The worker reaches the servers inside the compose network: by service name, on the container port.
      expect(lines).toContainEqual([name, '5432', '*', 'postgres', password]);
    }
  });

  it('gives the worker a copy of docker/pgpass, since libpq ignores a password file others can read.', () => {
    const copier = dependencies(worker).find((dep) =>
      (service(dep).volumes ?? []).some((v) => v.startsWith('./docker/pgpass:')),
    );
    expect(copier).toBeDefined();
    expect(commandWords(service(copier!)).join(' ')).toContain('chmod 600');
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');

  it('starts from node 20 on Debian bookworm.', () => {
    expect(dockerfile).toMatch(/^FROM node:20-bookworm-slim\b/m);
  });

  it('enters through bin/pgferry.js, the package bin, which exists.', () => {
    const entrypoint = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(dockerfile)?.[1];
    expect(JSON.parse(entrypoint ?? 'null')).toEqual(['node', 'bin/pgferry.js']);
    expect(existsSync(path.join(ROOT, 'bin', 'pgferry.js'))).toBe(true);
    const pkg = JSON.parse(read('package.json')) as { bin?: Record<string, string> };
    expect(pkg.bin?.pgferry).toBe('bin/pgferry.js');
  });

  it('installs the PostgreSQL client tools and builds with npm.', () => {
    expect(dockerfile).toMatch(/apt-get install[^\n]*postgresql-client/);
    expect(dockerfile).toMatch(/npm ci/);
    expect(dockerfile).toMatch(/npm run build/);
  });

  it('copies every source folder the build compiles.', () => {
    const tsconfig = JSON.parse(read('tsconfig.build.json')) as { include: string[] };
    for (const folder of tsconfig.include) expect(dockerfile).toMatch(new RegExp(`^COPY ${folder} `, 'm'));
  });

  it('keeps the local state dir, with its codec key, and node_modules out of the build context.', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim());
    expect(ignored).toContain('.pgferry');
    expect(ignored).toContain('node_modules');
    expect(ignored).toContain('docker/pgpass');
  });
});
