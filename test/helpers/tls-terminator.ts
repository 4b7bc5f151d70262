import { readFile } from 'node:fs/promises';
import { connect, type AddressInfo } from 'node:net';
import { createServer, type TLSSocket } from 'node:tls';
import type { CertificateFiles } from './certificates';

/**
 * A TLS terminator that requires a client certificate signed by one CA, in front of a plaintext
 * TCP service (the Temporal dev server's gRPC port: `temporal server start-dev` has no TLS flags).
 * Each accepted socket is piped to the service; what the clients see is a Temporal frontend that
 * requires mTLS. It counts the connections it let through (by the client certificate's CN) and the
 * handshakes it refused.
 */
export interface TlsTerminator {
  /** `127.0.0.1:PORT`. */
  readonly address: string;
  /** Common names of the client certificates of the connections let through, one per connection. */
  readonly accepted: string[];
  /** Why handshakes were refused (OpenSSL's reasons), one per refusal. */
  readonly refused: string[];
  close(): Promise<void>;
}

/** Starts a TlsTerminator on a free loopback port, in front of `upstream` (`HOST:PORT`). */
export async function startTlsTerminator(options: {
  server: CertificateFiles;
  clientCa: string;
  upstream: string;
}): Promise<TlsTerminator> {
  const [host, port] = splitAddress(options.upstream);
  const accepted: string[] = [];
  const refused: string[] = [];
  const sockets = new Set<TLSSocket>();
  const server = createServer(
    {
      cert: await readFile(options.server.cert),
      key: await readFile(options.server.key),
      ca: await readFile(options.clientCa),
      requestCert: true,
      rejectUnauthorized: true,
      // gRPC is HTTP/2: both Temporal client stacks (grpc-js and the Rust core) ask for h2 by ALPN.
      ALPNProtocols: ['h2'],
    },
    (socket) => {
      sockets.add(socket);
      accepted.push(String(socket.getPeerCertificate().subject?.CN ?? '?'));
      const up = connect(port, host);
      socket.pipe(up).pipe(socket);
      const end = () => {
        sockets.delete(socket);
        socket.destroy();
        up.destroy();
      };
      socket.on('error', end).on('close', end);
      up.on('error', end).on('close', end);
    },
  );
  server.on('tlsClientError', (err) => refused.push(err.message));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    accepted,
    refused,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function splitAddress(address: string): [string, number] {
  const at = address.lastIndexOf(':');
  return [address.slice(0, at), Number(address.slice(at + 1))];
}
