import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { runCommand } from './pg';

/** Files of a certificate made by `makeCertificate`: PEM paths in the directory. */
export interface CertificateFiles {
  readonly cert: string;
  readonly key: string;
}

const DAYS = ['-days', '2'];
const NEW_KEY = ['-nodes', '-newkey', 'rsa:2048'];

/** A self-signed CA made with openssl in `dir` (`NAME.crt`, `NAME.key`). */
export async function makeCertificateAuthority(dir: string, name: string): Promise<CertificateFiles> {
  const files = { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  await runCommand(
    'openssl',
    [
      'req',
      '-x509',
      '-new',
      ...NEW_KEY,
      '-keyout',
      files.key,
      '-out',
      files.cert,
      ...DAYS,
      '-subj',
      `/CN=${name}`,
    ],
    { cwd: dir },
  );
  return files;
}

/**
 * A certificate for `commonName` signed by `ca`, made with openssl in `dir` (`NAME.crt`,
 * `NAME.key`): a server certificate with the given subjectAltNames (`DNS:localhost,IP:127.0.0.1`),
 * or a client certificate (extendedKeyUsage clientAuth) without.
 */
export async function makeCertificate(
  dir: string,
  ca: CertificateFiles,
  name: string,
  options: { commonName: string; serverNames?: string },
): Promise<CertificateFiles> {
  const files = { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  const csr = path.join(dir, `${name}.csr`);
  const ext = path.join(dir, `${name}.ext`);
  await runCommand(
    'openssl',
    ['req', '-new', ...NEW_KEY, '-keyout', files.key, '-out', csr, '-subj', `/CN=${options.commonName}`],
    { cwd: dir },
  );
  await writeFile(
    ext,
    options.serverNames
      ? `subjectAltName = ${options.serverNames}\nextendedKeyUsage = serverAuth\n`
      : 'extendedKeyUsage = clientAuth\n',
  );
  await runCommand(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-CAcreateserial',
      ...DAYS,
      '-extfile',
      ext,
      '-out',
      files.cert,
    ],
    { cwd: dir },
  );
  return files;
}
