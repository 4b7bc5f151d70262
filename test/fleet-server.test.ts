import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetStatus } from '../client/fleet';
import { unfenced } from '../activities/roles';
import { ErrorCode } from '../domain/errors';
import { databaseFingerprint, diffFingerprints } from './helpers/fingerprint';
import {
  createFleetSource,
  FLEET_DATABASES as DATABASES,
  FLEET_ROLES,
  FLEET_SCHEMAS as SCHEMAS,
} from './helpers/fleet-fixture';
import { query, startThrowawayCluster, type ThrowawayCluster } from './helpers/pg';
import { runPgferry } from './helpers/processes';
import { databasePrivileges, serverRoles } from './helpers/role-catalog';
import { useTemporalSuite } from './helpers/suite';
import { waitFor } from './helpers/wait';

/** With waves of five in the server's (name) order, this one is in wave 2. */
const FAILING = 'fs_08';

describe('pgferry fleet --all: a server of twenty databases and six roles into a fresh server', () => {
  let source: ThrowawayCluster;
  let target: ThrowawayCluster;

  beforeAll(async () => {
    [source, target] = await Promise.all([startThrowawayCluster(), startThrowawayCluster()]);
    await createFleetSource(source);
    // The member that fails: its target already holds another application's table (preflight refuses it).
    await query(target.url(), `CREATE DATABASE ${FAILING}`);
    await query(target.url(FAILING), 'CREATE TABLE public.other_app (id int)');
  }, 300_000);

  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
  });

  const suite = useTemporalSuite();

  const fleetStatus = (what: string, test: (s: FleetStatus) => boolean) =>
    waitFor(
      `fleet fs: ${what}`,
      async () => {
        const status = await suite.client.fleetStatus('fs');
        return test(status) ? status : undefined;
      },
      420_000,
      500,
    );

  it('halts wave 2 on its failed member within the budget, completes on retry, and leaves every database, role, membership, ACL and default privilege equal', async () => {
    const started = await runPgferry(
      [
        'fleet',
        '--name',
        'fs',
        '--source-server',
        source.url(),
        '--target-server',
        target.url(),
        '--all',
        '--wave-size',
        '5',
        '--concurrency',
        '4',
        '--failure-budget',
        '0',
        '--approve',
        'auto',
        '--json',
      ],
      suite.env,
    );
    expect(started.code, started.stderr).toBe(0);

    const halted = await fleetStatus('halted at wave 2', (s) => s.awaiting?.kind === 'decision');
    expect(halted.awaiting).toEqual({ kind: 'decision', wave: 2, failed: [FAILING] });
    const state = Object.fromEntries(halted.members.map((m) => [m.database, m.member]));
    // --all: the twenty, not the template nor postgres. Wave 1 completed; wave 2 halts on its failure
    // (the members it had started end, it starts no more); nothing of waves 3 and 4 started.
    expect(Object.keys(state).sort()).toEqual(DATABASES);
    for (const db of DATABASES.slice(0, 5)) expect(state[db], db).toBe('completed');
    expect(state[FAILING]).toBe('failed');
    for (const db of DATABASES.slice(5, 10).filter((d) => d !== FAILING))
      expect(['completed', 'pending'], db).toContain(state[db]);
    for (const db of DATABASES.slice(10)) expect(state[db], db).toBe('pending');
    expect(halted.members.find((m) => m.database === FAILING)?.error?.code).toBe(ErrorCode.PreflightFailed);

    await query(target.url(), `DROP DATABASE ${FAILING}`);
    const retried = await runPgferry(
      ['fleet', 'retry', 'fs', '--member', FAILING, '--as', 'carol'],
      suite.env,
    );
    expect(retried.code, retried.stderr).toBe(0);
    const done = await fleetStatus('completed', (s) => s.state !== 'running' && s.state !== 'waiting');
    expect(done.state).toBe('completed');
    expect(done.members.every((m) => m.member === 'completed')).toBe(true);

    // Roles: created once for the server pair, with memberships and the role-level setting.
    expect(done.roles?.[0]?.created.sort()).toEqual(FLEET_ROLES);
    const [from, to] = await Promise.all([
      serverRoles(source.url(), DATABASES),
      serverRoles(target.url(), DATABASES),
    ]);
    // The moved databases stay frozen on the source (pgferry's fence, in their settings): not copied.
    const settings = (from.settings as { setconfig: string[] }[])
      .map((s) => ({ ...s, setconfig: unfenced(s.setconfig) }))
      .filter((s) => s.setconfig.length > 0);
    expect(to).toEqual({ ...from, settings });
    for (const db of DATABASES) {
      const [a, b] = await Promise.all([
        databaseFingerprint(source.url(db)),
        databaseFingerprint(target.url(db)),
      ]);
      expect(diffFingerprints(a, b), db).toEqual([]);
      expect(await databasePrivileges(target.url(db), SCHEMAS), db).toEqual(
        await databasePrivileges(source.url(db), SCHEMAS),
      );
    }
    // The large object and the sequences came over with their values (the fingerprint compares them too).
    expect(
      await query(
        target.url('fs_20'),
        `SELECT length(lo_get(424242)) AS n, (SELECT last_value FROM app.invoice_no)::int AS seq`,
      ),
    ).toEqual([{ n: 6500, seq: 1021 }]);
  }, 900_000);
});
