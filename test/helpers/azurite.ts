import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { freePort } from './pg';
import { waitFor } from './wait';

/** Azurite's well-known development account and key (public: the emulator accepts only these). */
export const DEVSTORE_ACCOUNT = 'devstoreaccount1';
export const DEVSTORE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** A running Azure Blob Storage emulator. */
export interface Azurite {
  readonly port: number;
  /** The Blob endpoint, `http://127.0.0.1:PORT/devstoreaccount1`. */
  readonly endpoint: string;
  /** The connection string of the development account on this emulator. */
  readonly connectionString: string;
  /** Where Azurite keeps its blobs (files under it can be damaged on purpose). */
  readonly dir: string;
  stop(): Promise<void>;
}

/**
 * Starts Azurite (the emulator Microsoft ships on npm) on a free port with its data in a temp
 * folder, as the tests start PostgreSQL. Azurite needs Node >= 22: npx runs it on the `node@22`
 * package. The first run on a machine downloads both; later ones start from npx's cache.
 */
export async function startAzurite(): Promise<Azurite> {
  const dir = await mkdtemp(path.join(tmpdir(), 'pgferry-azurite-'));
  const port = await freePort();
  const args = ['-y', '--prefer-offline', '-p', 'node@22', '-p', 'azurite', 'azurite-blob'];
  const flags = ['--silent', '--location', dir, '--blobPort', String(port), '--blobHost', '127.0.0.1'];
  // --loose: the SDK sends headers Azurite does not model; --skipApiVersionCheck: a newer SDK than the emulator.
  const child = spawn(
    'npx',
    [...args, ...flags, '--skipApiVersionCheck', '--loose', '--disableTelemetry'],
    // Its own process group: stop() ends npx, sh and the node under them at once.
    { detached: true, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const endpoint = `http://127.0.0.1:${port}/${DEVSTORE_ACCOUNT}`;
  const stop = async () => {
    killGroup(child);
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      () => `Azurite on port ${port} (stderr: ${stderr || 'nothing'})`,
      async () => {
        if (child.exitCode !== null) throw new Error(`Azurite exited ${child.exitCode}: ${stderr}`);
        return fetch(`http://127.0.0.1:${port}/`).then(
          () => true,
          () => undefined,
        );
      },
      180_000,
      250,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    port,
    endpoint,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${DEVSTORE_ACCOUNT};AccountKey=${DEVSTORE_KEY};BlobEndpoint=${endpoint};`,
    dir,
    stop,
  };
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    // already gone
  }
}
