/**
 * SQLSTATE codes pgferry branches on, named, in one place
 * (https://www.postgresql.org/docs/current/errcodes-appendix.html).
 */
export const SqlState = {
  /** Class 08, connection exception: every code that starts with it. */
  ConnectionExceptionClass: '08',
  FeatureNotSupported: '0A000',
  InvalidParameterValue: '22023',
  UniqueViolation: '23505',
  InvalidAuthorization: '28000',
  InvalidPassword: '28P01',
  InvalidCatalogName: '3D000',
  InsufficientPrivilege: '42501',
  UndefinedFunction: '42883',
  UndefinedTable: '42P01',
  UndefinedObject: '42704',
  DuplicateObject: '42710',
  DuplicateDatabase: '42P04',
  TooManyConnections: '53300',
  ConfigurationLimitExceeded: '53400',
  ObjectNotInPrerequisiteState: '55000',
  ObjectInUse: '55006',
  LockNotAvailable: '55P03',
  QueryCanceled: '57014',
  AdminShutdown: '57P01',
  CrashShutdown: '57P02',
  CannotConnectNow: '57P03',
  UndefinedFile: '58P01',
} as const;

/** Node network error codes that mean the server could not be reached at all. */
export const UNREACHABLE_ERRNOS: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
]);

/** Node network error codes of a connection that went away under a query (the server's end, or the network). */
export const LOST_ERRNOS: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', ...UNREACHABLE_ERRNOS]);

/** SQLSTATEs of a server that ended the session: shut down, crashed, or still starting. */
export const LOST_SQLSTATES: ReadonlySet<string> = new Set([
  SqlState.AdminShutdown,
  SqlState.CrashShutdown,
  SqlState.CannotConnectNow,
]);

/**
 * SQLSTATEs of something the server cannot do for this data at all, whatever the retry: a type
 * without the function asked for (no binary send or receive, e.g. aclitem), or a feature it lacks.
 */
export const UNSUPPORTED_SQLSTATES: ReadonlySet<string> = new Set([
  SqlState.UndefinedFunction,
  SqlState.FeatureNotSupported,
]);
