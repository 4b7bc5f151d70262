import {
  BlobServiceClient,
  RestError,
  StorageSharedKeyCredential,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import { ErrorCode, PgferryError } from '../../domain/errors';

/** The variables the worker reads Azure Blob Storage credentials from; never the location itself. */
export const AZURE_ENV = {
  connectionString: 'AZURE_STORAGE_CONNECTION_STRING',
  account: 'AZURE_STORAGE_ACCOUNT',
  key: 'AZURE_STORAGE_KEY',
  sasToken: 'AZURE_STORAGE_SAS_TOKEN',
  endpoint: 'AZURE_STORAGE_BLOB_ENDPOINT',
} as const;

const CREDENTIALS_FIX = `set ${AZURE_ENV.connectionString}, or ${AZURE_ENV.account} with ${AZURE_ENV.key} or ${AZURE_ENV.sasToken}, in the environment of the worker (and of the CLI for \`backup list\`)`;

// The SDK's default retries wait up to two minutes between tries; a step that waits that long
// says nothing. Temporal retries the activity on top of these.
const PIPELINE: StoragePipelineOptions = {
  retryOptions: { maxTries: 4, retryDelayInMs: 1000, maxRetryDelayInMs: 10_000 },
};

/** Which field a storage error is about: the backup's destination or the backup restored. */
export type StorageField = 'to' | 'from' | 'dir';

/**
 * A Blob service client from the worker's environment: a connection string, or an account with a
 * shared key or a SAS token (endpoint `https://ACCOUNT.blob.core.windows.net` unless
 * AZURE_STORAGE_BLOB_ENDPOINT names another, such as a sovereign cloud's or an emulator's).
 * StorageUnavailable naming the variables when none are set or they do not parse.
 */
export function blobServiceFromEnv(env: NodeJS.ProcessEnv, field: StorageField): BlobServiceClient {
  const connectionString = env[AZURE_ENV.connectionString];
  const account = env[AZURE_ENV.account];
  try {
    if (connectionString) return BlobServiceClient.fromConnectionString(connectionString, PIPELINE);
    if (account && (env[AZURE_ENV.key] || env[AZURE_ENV.sasToken])) {
      const endpoint = (env[AZURE_ENV.endpoint] || `https://${account}.blob.core.windows.net`).replace(
        /\/+$/,
        '',
      );
      const key = env[AZURE_ENV.key];
      if (key) return new BlobServiceClient(endpoint, new StorageSharedKeyCredential(account, key), PIPELINE);
      const sas = (env[AZURE_ENV.sasToken] ?? '').replace(/^\?/, '');
      return new BlobServiceClient(`${endpoint}?${sas}`, undefined, PIPELINE);
    }
  } catch (err) {
    // The SDK's message may quote the key: name the variables, never their values.
    throw new PgferryError(
      ErrorCode.StorageUnavailable,
      `${field}: the worker's Azure Storage credentials do not parse (${(err as Error).name})`,
      { field, fix: CREDENTIALS_FIX },
    );
  }
  throw new PgferryError(
    ErrorCode.StorageUnavailable,
    `${field}: the worker has no Azure Storage credentials`,
    { field, fix: CREDENTIALS_FIX },
  );
}

/** The HTTP status of an Azure SDK error, when it has one. */
export function restStatus(err: unknown): number | undefined {
  return err instanceof RestError ? err.statusCode : undefined;
}

/**
 * Azure's refusals that no retry mends, as pgferry errors naming the field and the fix: the
 * credentials refused (401/403). Anything else is returned as it is (network faults, 5xx: retried).
 */
export function storageFailure(err: unknown, field: StorageField, location: string): unknown {
  const status = restStatus(err);
  if (status === 401 || status === 403) {
    const code = err instanceof RestError ? (err.code ?? String(status)) : String(status);
    return new PgferryError(
      ErrorCode.StorageUnavailable,
      `${field}: Azure Blob Storage refused the worker's credentials for ${location} (${code})`,
      {
        field,
        fix: `give the worker credentials that may ${field === 'to' ? 'write to' : 'read'} the container (${AZURE_ENV.connectionString}, ${AZURE_ENV.key} or a SAS token with the permissions)`,
        cause: err,
      },
    );
  }
  return err;
}
