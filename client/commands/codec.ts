import type { Command } from 'commander';
import { DEFAULTS } from '../../domain/constants';
import { EncryptionCodec } from '../../worker/codec';
import { startCodecServer } from '../../worker/codec-server';
import { loadCodecKey, loadConfig } from '../../worker/config';
import { outputFor, withJson, type CommonOptions } from './context';
import { intOption } from './flags';
import { onStopSignal } from './worker';

/** `pgferry codec serve`: the remote codec endpoint for the Temporal UI and CLI. */
export function registerCodec(program: Command): void {
  const codec = program
    .command('codec')
    .description("decode pgferry's encrypted payloads for the Temporal UI and CLI");
  withJson(
    codec
      .command('serve')
      .description(
        'serve POST /encode and /decode (Temporal remote codec), with CORS for the UI; PGFERRY_CODEC_TOKEN adds a bearer-token check',
      )
      .option('--port <n>', 'port to listen on', intOption('port', 1, 65535), DEFAULTS.codecPort)
      .option('--ip <ip>', 'address to listen on', '127.0.0.1')
      .option('--ui-origin <origins>', 'comma-separated origins of the Temporal UI (CORS; default: any)'),
  ).action(async (flags: CommonOptions & { port: number; ip: string; uiOrigin?: string }) => {
    const out = outputFor(flags);
    const config = loadConfig();
    const server = await startCodecServer({
      codec: new EncryptionCodec(await loadCodecKey(config)),
      port: flags.port,
      host: flags.ip,
      token: config.codecToken,
      origins: flags.uiOrigin ? flags.uiOrigin.split(',').map((o) => o.trim()) : [],
    });
    out.result(
      { ok: true, ready: true, url: server.url },
      () =>
        `pgferry codec server ready at ${server.url} (point the UI's codec endpoint or temporal --codec-endpoint at it)`,
    );
    await onStopSignal(() => server.close());
  });
}
