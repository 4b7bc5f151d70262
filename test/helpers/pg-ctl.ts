import * as path from 'node:path';
import { DEFAULT_PG_BIN_DIR, runCommand, type ThrowawayCluster } from './pg';

/**
 * Stops or starts a throw-away cluster in place, its data kept (a server that goes down and comes
 * back): pg_ctl as the `postgres` OS user when running as root, as startThrowawayCluster does.
 */
export async function pgCtl(cluster: ThrowawayCluster, action: 'stop' | 'start'): Promise<void> {
  const dir = path.dirname(cluster.dataDir);
  const binary = path.join(DEFAULT_PG_BIN_DIR, 'pg_ctl');
  const args =
    action === 'stop'
      ? ['-D', cluster.dataDir, '-w', '-m', 'fast', 'stop']
      : ['-D', cluster.dataDir, '-l', path.join(dir, 'server.log'), '-w', '-t', '60', 'start'];
  if (process.getuid?.() === 0)
    await runCommand('runuser', ['-u', 'postgres', '--', binary, ...args], { cwd: dir });
  else await runCommand(binary, args, { cwd: dir });
}
