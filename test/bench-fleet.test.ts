import { afterAll, describe, expect, inject, it } from 'vitest';
import { Cleanups } from '../bench/cleanup';
import { loadConfig, type BenchConfig } from '../bench/config';
import { FLEET_GOALS, renderFleetReport, totalEvents } from '../bench/fleet-report';
import { fleetBench } from '../bench/fleet-run';

/** The short fleet run of CI: the same code as `npm run bench -- --fleet`, at a size that takes about two minutes. */
const SHORT = [
  '--fleet',
  '--fleet-databases',
  '6',
  '--fleet-size-mb',
  '1',
  '--wave-size',
  '3',
  '--concurrency',
  '2',
  '--fleet-tables',
  '200',
];

describe('the fleet bench', () => {
  const cleanups = new Cleanups();
  afterAll(() => cleanups.runAll());

  it('reads the fleet flags, with the full run as the default, and refuses a bad one naming it', () => {
    const parse = (argv: string[]) => loadConfig(argv, {}) as BenchConfig;
    expect(parse(['--fleet']).fleet).toEqual({
      databases: 200,
      sizeMb: 10,
      waveSize: 20,
      concurrency: 8,
      tables: 2000,
    });
    expect(parse(SHORT).fleet).toEqual({ databases: 6, sizeMb: 1, waveSize: 3, concurrency: 2, tables: 200 });
    expect(parse(['--wave-size', '3']).fleet).toBeUndefined();
    expect(loadConfig(['--fleet'], { BENCH_FLEET_DATABASES: '12' })).toMatchObject({
      fleet: { databases: 12 },
    });
    expect(() => parse(['--fleet', '--wave-size', '0'])).toThrow(/--wave-size/);
  });

  it('moves every database by pgferry fleet and by the pg_dump | pg_restore loop, identical to its source, and prints the figures', async () => {
    // `pgferry dev` finds the Temporal CLI the suite uses.
    process.env.TEMPORAL_CLI_PATH = inject('temporalCliPath');
    const config = loadConfig(SHORT, {}) as BenchConfig;
    const r = await fleetBench(config, config.fleet!, 'npm run bench -- --fleet (test)', cleanups);
    await cleanups.runAll();

    expect(r.source.databases).toHaveLength(6);
    expect(r.source.withLargeObjects).toBe(2);
    for (const tool of [r.fleet, r.loop]) {
      expect(tool.error, tool.tool).toBeUndefined();
      expect(tool.differences, tool.tool).toEqual([]);
      expect(tool.verified, tool.tool).toBe(6);
      expect(tool.seconds, tool.tool).toBeGreaterThan(0);
    }
    expect(r.fleet.outcome).toBe('completed');
    expect(r.fleet.completed).toBe(6);
    // Every member's history was read: its own events and its provision child's.
    expect(r.fleet.memberEvents).toHaveLength(6);
    for (const e of r.fleet.memberEvents) {
      expect(e.own).toBeGreaterThan(20);
      expect(e.children).toBeGreaterThan(0);
      expect(e.seconds).toBeGreaterThan(0);
    }
    // Two waves: one run of the fleet workflow each.
    expect(r.fleet.fleetEvents?.runs).toBe(2);
    expect(r.fleet.rss?.peakBytes).toBeGreaterThan(50 * 2 ** 20);
    expect(r.fleet.medianMember?.breakdown.stages.map((s) => s.stage)).toContain('copy');

    const many = r.many!;
    expect(many.tables).toBe(200);
    for (const t of [many.pgferry, many.pgcopydb]) {
      expect(t.error, t.tool).toBeUndefined();
      expect(t.differences, t.tool).toEqual([]);
    }
    expect(totalEvents(many.events!)).toBeGreaterThan(0);
    expect(totalEvents(many.events!)).toBeLessThan(FLEET_GOALS.manyTablesEvents);

    const cpu = (t: typeof r.loop, label: string) => t.cpu.find((c) => c.label === label)?.seconds;
    expect(cpu(r.loop, 'source PostgreSQL')).toBeGreaterThan(0);
    expect(cpu(r.loop, 'pg_dump, pg_restore, psql')).toBeGreaterThan(0);
    expect(cpu(r.fleet, 'worker')).toBeGreaterThan(0);
    expect(cpu(r.fleet, 'target PostgreSQL')).toBeGreaterThan(0);

    const report = renderFleetReport(r);
    process.stderr.write(`${report}\n`);
    expect(report).toMatch(/pgferry fleet .*\s\d+\.\d\s+\d+\.\d\s+6 of 6/);
    expect(report).toMatch(/pg_dump -Fc \| pg_restore under xargs -P 2 .*\s\d+\.\d\s+\d+\.\d\s+6 of 6/);
    expect(report).toMatch(/pgferry fleet \/ loop: \d+\.\d\d×/);
    expect(report).toMatch(/history events per member .*: median \d+/);
    expect(report).toMatch(/worker RSS: idle \d+ MB, peak \d+ MB/);
    expect(report).toMatch(/CPU s, pgferry fleet --mode offline: worker \d+\.\d/);
    expect(report).toMatch(/Many tables: 200 tables/);
    expect(report).toMatch(/history events of its migration: [\d,]+ .*goal < 10,000: MET/);
  }, 300_000);
});
