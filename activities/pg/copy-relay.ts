import { from as copyFrom, to as copyTo } from 'pg-copy-streams';

/** The COPY TO stream of pg-copy-streams. */
type CopyToStream = ReturnType<typeof copyTo>;
/** The COPY FROM stream of pg-copy-streams. */
type CopyFromStream = ReturnType<typeof copyFrom>;

/** The parts of pg-copy-streams 7.0.0's CopyStreamQuery (COPY TO) that the relay uses (pinned version). */
interface CopyToInternals {
  _buffer: { push(chunk: Buffer): void } | null;
  _detach(): void;
  _cleanup(): void;
  _parse: (chunk: Buffer) => boolean;
  push(chunk: Buffer | null): boolean;
}

/** The part of pg-copy-streams 7.0.0's COPY FROM stream that frames each chunk (pinned version). */
interface CopyFromInternals {
  connection: { stream: { write(chunk: Buffer): boolean } };
  flushChunk: (chunk: Buffer) => boolean;
}

// Message types met during COPY (PostgreSQL protocol, "Message Formats"). CopyData is the same
// message from a server and to one.
const COPY_DATA = 0x64; // 'd'
const ERROR_RESPONSE = 0x45; // 'E'
/** Messages a server may send between CopyData ones; they are left out of the relay. */
const INTERSPERSED = new Set([
  0x48, // 'H' CopyOutResponse
  0x53, // 'S' ParameterStatus
  0x4e, // 'N' NoticeResponse
  0x41, // 'A' NotificationResponse
]);
const HEADER_BYTES = 5;

/** A COPY TO stream whose chunks are whole CopyData messages, as the server sent them. */
export interface CopyOutRelay {
  readonly stream: CopyToStream;
  /** The data's bytes relayed so far, without the messages' framing. */
  payloadBytes(): number;
}

/**
 * `COPY … TO STDOUT` as a stream of the server's CopyData messages, framing included, for
 * `copyInRelay` to write to the target as they are: CopyData reads the same both ways. This spares
 * what pg-copy-streams does per row on each side, unframing every message through a buffer list
 * and framing each chunk again, which made the worker's CPU the limit on narrow rows: the relay
 * only reads each message's header and passes runs of messages on as slices of the socket's reads.
 * Errors, notices and the end of the COPY go back to node-postgres as pg-copy-streams does (its
 * `_detach`), so errors and row counts behave the same.
 */
export function copyOutRelay(sql: string): CopyOutRelay {
  const stream = copyTo(sql);
  const internals = stream as unknown as CopyToInternals;
  /** Bytes of the current message still to come. */
  let left = 0;
  /** Whether the current message is CopyData (relayed) or another one (skipped). */
  let relaying = false;
  /** The start of a header cut by the end of the previous read. */
  let headerTail: Buffer | undefined;
  let payload = 0;

  internals._parse = (chunk: Buffer): boolean => {
    const buf = headerTail ? Buffer.concat([headerTail, chunk]) : chunk;
    headerTail = undefined;
    let drained = true;
    let runStart = left > 0 && relaying ? 0 : -1;
    const endRun = (at: number) => {
      if (runStart >= 0 && at > runStart) drained = internals.push(buf.subarray(runStart, at));
      runStart = -1;
    };
    let i = 0;
    while (i < buf.length) {
      if (left > 0) {
        const n = Math.min(left, buf.length - i);
        if (relaying) payload += n;
        i += n;
        left -= n;
        continue;
      }
      if (buf.length - i < HEADER_BYTES) {
        endRun(i);
        headerTail = Buffer.from(buf.subarray(i));
        return drained;
      }
      const code = buf[i] as number;
      if (code === COPY_DATA) {
        if (runStart < 0) runStart = i;
        relaying = true;
        left = buf.readUInt32BE(i + 1) - 4;
        i += HEADER_BYTES;
        continue;
      }
      endRun(i);
      relaying = false;
      if (INTERSPERSED.has(code)) {
        left = buf.readUInt32BE(i + 1) - 4;
        i += HEADER_BYTES;
        continue;
      }
      // An error (node-postgres reads it), or CopyDone and what follows: node-postgres's again.
      const end = code === ERROR_RESPONSE ? i : i + 1 + buf.readUInt32BE(i + 1);
      internals._buffer?.push(buf.subarray(end));
      internals._detach();
      if (code !== ERROR_RESPONSE) {
        internals.push(null);
        internals._cleanup();
      }
      return drained;
    }
    endRun(buf.length);
    return drained;
  };
  return { stream, payloadBytes: () => payload };
}

/** `COPY … FROM STDIN` that writes `copyOutRelay`'s chunks to the server as they are (already CopyData messages). */
export function copyInRelay(sql: string): CopyFromStream {
  const stream = copyFrom(sql);
  const internals = stream as unknown as CopyFromInternals;
  internals.flushChunk = (chunk: Buffer) => internals.connection.stream.write(chunk);
  return stream;
}
