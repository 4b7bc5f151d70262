import * as path from 'node:path';
import { formatBytes, formatCount } from '../format';
import { watch } from '../watch';
import { psql, SAMPLE } from './sample';
import { say, uiLink, type Tour } from './tour';

/**
 * The backup tour (`pgferry demo --backup`): a throw-away source cluster with the sample database,
 * a backup, a restore into a fresh cluster checked against the manifest. Returns whether it matched.
 */
export async function backupTour(tour: Tour): Promise<boolean> {
  const { client, config, out } = tour;
  say(tour, '1/4 provisioning a throw-away source cluster with the sample database…');
  const source = await (
    await client.provision({ provider: 'local-cluster', cluster: 'demo-source', database: 'shop' })
  ).result();
  psql(source.target, ['-f', SAMPLE]);

  say(tour, '2/4 backing it up (pg_dump directory format, 2 jobs, manifest with sha256 and row counts)…');
  const backupRun = await client.backup({
    source: source.target,
    to: path.resolve(config.stateDir, 'backups'),
    jobs: 2,
  });
  await watch(client, backupRun.workflowId, out);
  const backup = await backupRun.result();

  say(tour, '3/4 provisioning a fresh target cluster with an empty database…');
  const target = await (
    await client.provision({ provider: 'local-cluster', cluster: 'demo-target', database: 'shop' })
  ).result();

  say(tour, '4/4 restoring into it: checksums, provision, pg_restore, row counts…');
  const restoreRun = await client.restore({ from: backup.backup, target: target.target, jobs: 2 });
  await watch(client, restoreRun.workflowId, out);
  const restored = await restoreRun.result();

  const ui = `${tour.uiUrl}/namespaces/default/workflows`;
  const result = {
    ok: restored.report.ok,
    source: source.target,
    backup,
    target: target.target,
    report: restored.report,
    ui,
  };
  out.result(result, () =>
    [
      '',
      `source   ${source.target}`,
      `backup   ${backup.backup}  (${formatBytes(backup.bytes)}, ${backup.files} files)`,
      `target   ${target.target}`,
      '',
      ...restored.report.tables.map(
        (t) =>
          `  ${t.ok ? '✓' : '✗'} ${`${t.schema}.${t.table}`.padEnd(40)} ${formatCount(t.actual)} / ${formatCount(t.expected)} rows`,
      ),
      `  ${restored.report.largeObjectsRestored} / ${restored.report.largeObjectsExpected} large objects`,
      '',
      restored.report.ok
        ? 'restore verified: every table matches the backup manifest.'
        : 'MISMATCH: see the table above.',
      `Temporal UI: ${uiLink(tour, restoreRun.workflowId)}`,
      tour.exit ? '' : 'Ctrl-C stops the server, the worker and the demo clusters.',
    ].join('\n'),
  );
  return restored.report.ok;
}
