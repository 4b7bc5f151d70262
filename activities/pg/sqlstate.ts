/** SQLSTATE codes pgferry branches on, named (https://www.postgresql.org/docs/current/errcodes-appendix.html). */
export const SqlState = {
  InvalidPassword: '28P01',
  InvalidAuthorization: '28000',
  InvalidCatalogName: '3D000',
  InsufficientPrivilege: '42501',
  DuplicateDatabase: '42P04',
  UniqueViolation: '23505',
  ObjectInUse: '55006',
  CannotConnectNow: '57P03',
  AdminShutdown: '57P01',
  CrashShutdown: '57P02',
  TooManyConnections: '53300',
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
