import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { DEFAULTS } from '../../domain/constants';
import { ErrorCode, PgferryError } from '../../domain/errors';
import {
  DEV_UI_ORIGINS,
  isLoopback,
  parseOrigin,
  parseToken,
  type CodecAuth,
} from '../../worker/codec-access';
import { outputFor, withJson, type CommonOptions } from './context';
import { intOption } from './flags';
import { onStopSignal } from './worker';

interface CodecServeFlags extends CommonOptions {
  port: number;
  host: string;
  tokenFile?: string;
  insecureNoAuth?: boolean;
  uiOrigin?: string[];
}

const NO_TOKEN_FIX =
  'make one (openssl rand -hex 32 > codec-token && chmod 600 codec-token) and pass --token-file codec-token ' +
  '(or set PGFERRY_CODEC_TOKEN); only on a trusted machine, --insecure-no-auth serves without one';

/** Reads the token of `--token-file`, naming the flag in what goes wrong. */
async function readTokenFile(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new PgferryError(
      ErrorCode.InvalidInput,
      `token-file: cannot read ${file} (${err.code ?? err.message})`,
      {
        field: 'token-file',
        fix: NO_TOKEN_FIX,
        cause: err,
      },
    );
  });
  return parseToken(text, 'token-file');
}

/**
 * Who may call the server, from the flags and PGFERRY_CODEC_TOKEN: a token, or none when asked
 * for explicitly, on loopback only. No token and no `--insecure-no-auth` is bad input: a codec
 * server decrypts every payload for whoever reaches it.
 */
async function codecAuth(flags: CodecServeFlags, envToken: string | undefined): Promise<CodecAuth> {
  if (flags.insecureNoAuth) {
    const given =
      flags.tokenFile !== undefined
        ? 'token-file'
        : envToken !== undefined
          ? 'PGFERRY_CODEC_TOKEN'
          : undefined;
    if (given) {
      throw new PgferryError(ErrorCode.InvalidInput, `insecure-no-auth: contradicts the token of ${given}`, {
        field: 'insecure-no-auth',
        fix: `drop --insecure-no-auth to require the token, or ${given === 'token-file' ? 'drop --token-file' : 'unset PGFERRY_CODEC_TOKEN'}`,
      });
    }
    if (!isLoopback(flags.host)) {
      throw new PgferryError(
        ErrorCode.InvalidInput,
        `insecure-no-auth: refused on ${flags.host}, which other machines reach; anyone there could decrypt every payload`,
        { field: 'insecure-no-auth', fix: `use --host 127.0.0.1, or a token: ${NO_TOKEN_FIX}` },
      );
    }
    return { kind: 'none' };
  }
  if (flags.tokenFile !== undefined) return { kind: 'token', token: await readTokenFile(flags.tokenFile) };
  if (envToken !== undefined) return { kind: 'token', token: parseToken(envToken, 'PGFERRY_CODEC_TOKEN') };
  throw new PgferryError(
    ErrorCode.InvalidInput,
    'token-file: the codec server needs a bearer token (--token-file FILE or PGFERRY_CODEC_TOKEN): it decrypts every payload for whoever calls it',
    { field: 'token-file', fix: NO_TOKEN_FIX },
  );
}

/** Collects repeated and comma-separated `--ui-origin` values. */
const collectOrigins = (value: string, previous: string[] = []): string[] => [
  ...previous,
  ...value
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean),
];

/** `pgferry codec serve`: the remote codec endpoint for the Temporal UI and CLI. */
export function registerCodec(program: Command): void {
  const codec = program
    .command('codec')
    .description("decode pgferry's encrypted payloads for the Temporal UI and CLI");
  withJson(
    codec
      .command('serve')
      .description(
        'serve POST /encode and /decode (Temporal remote codec) on 127.0.0.1; every request needs ' +
          '"Authorization: Bearer <token>" (--token-file or PGFERRY_CODEC_TOKEN; without one it refuses ' +
          'to start unless --insecure-no-auth); browsers only from the --ui-origin origins (others get 403)',
      )
      .option('--port <n>', 'port to listen on', intOption('port', 1, 65535), DEFAULTS.codecPort)
      .option('--host <host>', 'address to listen on (warns when other machines can reach it)', '127.0.0.1')
      .option('--token-file <file>', 'file holding the bearer token (else PGFERRY_CODEC_TOKEN)')
      .option(
        '--insecure-no-auth',
        'serve without a token: anyone on this machine can decrypt payloads (loopback hosts only)',
      )
      .option(
        '--ui-origin <url>',
        `origin of the Temporal UI allowed by CORS; repeat or comma-separate (default: ${DEV_UI_ORIGINS.join(', ')})`,
        collectOrigins,
      ),
  ).action(async (flags: CodecServeFlags) => {
    const out = outputFor(flags);
    // Loaded when the server starts: the configuration's schemas are not the CLI's start.
    const [{ loadCodecKey, loadConfig }, { EncryptionCodec }, { startCodecServer }] = await Promise.all([
      import('../../worker/config.js'),
      import('../../worker/codec.js'),
      import('../../worker/codec-server.js'),
    ]);
    const config = loadConfig();
    const origins = (flags.uiOrigin?.length ? flags.uiOrigin : DEV_UI_ORIGINS).map((o) => parseOrigin(o));
    const auth = await codecAuth(flags, config.codecToken);
    // Warnings go to stderr even with --json: they are about safety, and stdout stays one document.
    if (!isLoopback(flags.host)) {
      process.stderr.write(
        `warning: the codec server listens on ${flags.host}, which other machines reach; over http the token crosses the network in clear — put TLS in front of it\n`,
      );
    }
    if (auth.kind === 'none') {
      process.stderr.write(
        'warning: --insecure-no-auth: any program on this machine can decrypt pgferry payloads through this server (browsers only from the UI origins)\n',
      );
    }
    const server = await startCodecServer({
      codec: new EncryptionCodec(await loadCodecKey(config)),
      port: flags.port,
      host: flags.host,
      auth,
      origins: [...new Set(origins)],
    });
    out.result(
      { ok: true, ready: true, url: server.url, auth: auth.kind, origins },
      () =>
        `pgferry codec server ready at ${server.url} (${auth.kind === 'token' ? 'bearer token required' : 'NO token required'}; UI origins ${origins.join(', ')}); point the UI's codec endpoint or temporal --codec-endpoint at it`,
    );
    await onStopSignal(() => server.close());
  });
}
