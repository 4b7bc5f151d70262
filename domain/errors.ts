/** Stable error codes. They are the `type` of Temporal failures and what the CLI prints. */
export const ErrorCode = {
  InvalidInput: 'InvalidInput',
  /** A server could not be reached (or its TLS was refused) at first contact: the URL or the network is wrong. */
  ConnectionFailed: 'ConnectionFailed',
  ConnectionLost: 'ConnectionLost',
  /**
   * A server reached before in this run cannot be reached now (a restart, a failover, the network):
   * retried, unlike ConnectionFailed, since nothing in the input is wrong.
   */
  ServerUnreachable: 'ServerUnreachable',
  SnapshotLost: 'SnapshotLost',
  AuthFailed: 'AuthFailed',
  DatabaseMissing: 'DatabaseMissing',
  PermissionDenied: 'PermissionDenied',
  TargetNotEmpty: 'TargetNotEmpty',
  StorageUnwritable: 'StorageUnwritable',
  /** An object store cannot be used: no credentials in the worker's environment, or they were refused. */
  StorageUnavailable: 'StorageUnavailable',
  BackupNotFound: 'BackupNotFound',
  BackupCorrupt: 'BackupCorrupt',
  RowCountMismatch: 'RowCountMismatch',
  ToolMissing: 'ToolMissing',
  ToolFailed: 'ToolFailed',
  ClusterFailed: 'ClusterFailed',
  Unsupported: 'Unsupported',
  WorkflowNotFound: 'WorkflowNotFound',
  TemporalUnavailable: 'TemporalUnavailable',
  PreflightFailed: 'PreflightFailed',
  ValidationFailed: 'ValidationFailed',
  /** The write fence on the frozen source did not hold: a write committed after it, or a session would not end. */
  FenceBreached: 'FenceBreached',
  ApprovalRefused: 'ApprovalRefused',
  ApprovalExpired: 'ApprovalExpired',
  /** A fallback in the fallback window did not go through: the target is the primary still, the window open. */
  FallbackFailed: 'FallbackFailed',
  /** A scheduled backup's restore drill did not restore it as made (checksums, row counts, restore errors). */
  DrillFailed: 'DrillFailed',
  Cancelled: 'Cancelled',
  Internal: 'Internal',
} as const;
/** One of the stable error codes. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Codes that mean the user's input was wrong: the CLI exits 2 for them. */
export const BAD_INPUT_CODES: readonly ErrorCode[] = [
  ErrorCode.InvalidInput,
  ErrorCode.ConnectionFailed,
  ErrorCode.AuthFailed,
  ErrorCode.DatabaseMissing,
  ErrorCode.PermissionDenied,
  ErrorCode.TargetNotEmpty,
  ErrorCode.StorageUnwritable,
  ErrorCode.StorageUnavailable,
  ErrorCode.BackupNotFound,
  ErrorCode.BackupCorrupt,
  ErrorCode.WorkflowNotFound,
  ErrorCode.PreflightFailed,
  ErrorCode.ApprovalRefused,
];

/** Codes that no retry can mend: bad input, and faults of the environment that persist. */
export const NON_RETRYABLE_CODES: readonly ErrorCode[] = [
  ...BAD_INPUT_CODES,
  ErrorCode.RowCountMismatch,
  ErrorCode.ValidationFailed,
  // A write that passed the fence stays passed: the migration rolls back instead of retrying.
  ErrorCode.FenceBreached,
  ErrorCode.ApprovalExpired,
  ErrorCode.DrillFailed,
  // The transaction that exported it is gone: the workflow restarts the copy from a new slot instead.
  ErrorCode.SnapshotLost,
  ErrorCode.ToolMissing,
  ErrorCode.ClusterFailed,
  ErrorCode.Unsupported,
];

/** Extra facts an error carries: which input field is wrong and how to fix it. */
export interface ErrorDetails {
  readonly field?: string;
  readonly fix?: string;
}

/** The one error class of pgferry: a stable code, the field at fault, a fix, and the cause. */
export class PgferryError extends Error {
  override readonly name = 'PgferryError';
  readonly code: ErrorCode;
  readonly field: string | undefined;
  readonly fix: string | undefined;

  constructor(code: ErrorCode, message: string, details: ErrorDetails & { cause?: unknown } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.field = details.field;
    this.fix = details.fix;
  }

  /** The message with the field in front and the fix behind, as a person should read it. */
  describe(): string {
    return describeError({ code: this.code, message: this.message, field: this.field, fix: this.fix });
  }
}

/** The plain, serializable shape of an error, as kept in results and printed with --json. */
export interface ErrorInfo {
  code: string;
  message: string;
  field?: string | undefined;
  fix?: string | undefined;
}

/** Formats an error as one line: `field: message. Fix: …`. */
export function describeError(info: ErrorInfo): string {
  const head = info.field && !info.message.startsWith(`${info.field}:`) ? `${info.field}: ` : '';
  const tail = info.fix ? ` Fix: ${info.fix}` : '';
  return `${head}${info.message}${tail}`;
}

/** True when the code is one that a retry cannot mend. */
export function isNonRetryable(code: string): boolean {
  return (NON_RETRYABLE_CODES as readonly string[]).includes(code);
}

/** The process exit code for a failure: 2 for bad input, 1 for a failed operation. */
export function exitCodeFor(code: string): 1 | 2 {
  return (BAD_INPUT_CODES as readonly string[]).includes(code) ? 2 : 1;
}
