/**
 * Where backups live, as a user writes it: an absolute directory on the worker, or an Azure Blob
 * Storage container and prefix (`azblob://CONTAINER/PREFIX`). Pure: the input schemas, the client
 * and the storages parse locations with the same rules.
 */

/** The scheme of Azure Blob Storage locations. */
export const AZBLOB_SCHEME = 'azblob';

/** A parsed storage location. */
export type StorageLocation =
  | { readonly kind: 'filesystem'; readonly path: string }
  | {
      readonly kind: 'azblob';
      readonly container: string;
      /** Blob name prefix without leading or trailing `/`; '' for the container's root. */
      readonly prefix: string;
    };

/** What is wrong with a location, and how to fix it. */
export interface LocationProblem {
  readonly message: string;
  readonly fix: string;
}

const SCHEME = /^([a-z][a-z0-9+.-]*):\//i;
// Azure's rule: 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit.
const CONTAINER = /^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/;
// Blob names may be 1024 characters long; the prefix leaves room for the backup's name and files.
const MAX_PREFIX = 512;
const KINDS_FIX = `give an absolute directory path on the worker (such as /var/backups/pgferry) or ${AZBLOB_SCHEME}://CONTAINER/PREFIX for Azure Blob Storage`;

/** True when the value starts like a URL (`scheme:/…`): such a value is never a relative path. */
export function hasScheme(value: string): boolean {
  return SCHEME.test(value);
}

/**
 * Parses a storage location: an absolute path, or `azblob://CONTAINER[/PREFIX]`. Any other scheme,
 * a relative path, and credentials or a query in the URL are problems (credentials come only from
 * the worker's environment).
 */
export function tryParseStorageLocation(
  value: string,
): { location: StorageLocation } | { problem: LocationProblem } {
  const scheme = SCHEME.exec(value)?.[1];
  if (scheme === undefined) return parseDirectory(value);
  if (scheme.toLowerCase() === AZBLOB_SCHEME && scheme !== AZBLOB_SCHEME) {
    return {
      problem: {
        message: `"${scheme}:" is spelled in capitals`,
        fix: `write the scheme as ${AZBLOB_SCHEME}://`,
      },
    };
  }
  if (scheme !== AZBLOB_SCHEME) {
    return {
      problem: {
        message: `storage "${scheme}:" is not supported; pgferry keeps backups in a directory or in Azure Blob Storage`,
        fix: KINDS_FIX,
      },
    };
  }
  return parseAzblob(value.slice(scheme.length + 1));
}

function parseDirectory(value: string): { location: StorageLocation } | { problem: LocationProblem } {
  if (!value.startsWith('/') || /(^|\/)\.\.?(\/|$)/.test(value) || /\p{Cc}/u.test(value)) {
    return {
      problem: {
        message: 'expected an absolute path without "." or ".." segments or control characters',
        fix: KINDS_FIX,
      },
    };
  }
  return { location: { kind: 'filesystem', path: value } };
}

function parseAzblob(rest: string): { location: StorageLocation } | { problem: LocationProblem } {
  const form = `${AZBLOB_SCHEME}://CONTAINER/PREFIX`;
  if (!rest.startsWith('//')) {
    return { problem: { message: `expected ${form}`, fix: `write the location as ${form}` } };
  }
  const body = rest.slice(2);
  if (/[?#@]/.test(body)) {
    return {
      problem: {
        message: 'the location holds a query, a fragment or credentials',
        fix: `write only ${form}; the worker reads credentials from AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN`,
      },
    };
  }
  const [container = '', ...segments] = body.replace(/\/+$/, '').split('/');
  if (!CONTAINER.test(container)) {
    return {
      problem: {
        message: `"${container}" is not a container name`,
        fix: 'name a container of 3 to 63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit',
      },
    };
  }
  const prefix = segments.join('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..') || /[\p{Cc}\\]/u.test(prefix)) {
    return {
      problem: {
        message: 'the prefix has an empty, "." or ".." segment, a backslash or a control character',
        fix: `write the prefix as names separated by single "/", such as ${AZBLOB_SCHEME}://${container}/pgferry/prod`,
      },
    };
  }
  if (prefix.length > MAX_PREFIX) {
    return {
      problem: { message: `the prefix is longer than ${MAX_PREFIX} characters`, fix: 'use a shorter prefix' },
    };
  }
  return { location: { kind: 'azblob', container, prefix } };
}

/** The location as pgferry prints it: a path as is, `azblob://container/prefix` without a trailing slash. */
export function formatStorageLocation(location: StorageLocation): string {
  if (location.kind === 'filesystem') return location.path;
  return `${AZBLOB_SCHEME}://${location.container}${location.prefix ? `/${location.prefix}` : ''}`;
}

/**
 * A backup's address (as `backup` returns it and `restore --from` takes it) split into the
 * location that holds it and its name: the last path segment.
 */
export function splitBackupAddress(address: string): { location: string; name: string } {
  const trimmed = address.replace(/\/+$/, '');
  const cut = trimmed.lastIndexOf('/');
  return { location: trimmed.slice(0, cut) || '/', name: trimmed.slice(cut + 1) };
}

// Azure Blob Storage: at most 50,000 blocks in a block blob, each at most 4000 MiB.
const MAX_BLOCKS = 50_000;
const MIB = 1024 * 1024;
const MAX_BLOCK_BYTES = 4000 * MIB;
const MIN_BLOCK_BYTES = 8 * MIB;

/**
 * The block size to upload a file of `bytes` with: 8 MiB for files up to ~390 GiB, larger (in
 * whole MiB) beyond, so that no file needs more than 50,000 blocks; undefined when a file is too
 * large for one block blob (over 50,000 × 4000 MiB, about 190 TiB).
 */
export function blockSizeFor(bytes: number): number | undefined {
  const needed = Math.ceil(Math.ceil(bytes / MAX_BLOCKS) / MIB) * MIB;
  const size = Math.max(MIN_BLOCK_BYTES, needed);
  return size > MAX_BLOCK_BYTES ? undefined : size;
}
