import type { Payload } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import type { EncryptionCodec } from '../../worker/codec';

function isPayload(value: unknown): value is Payload {
  return typeof value === 'object' && value !== null && 'metadata' in value && 'data' in value;
}

/** Every payload anywhere in a history (inputs, results, heartbeats, failures, memo, metadata). */
export function payloadsOf(history: temporal.api.history.v1.IHistory): Payload[] {
  const out: Payload[] = [];
  const seen = new Set<unknown>();
  const walk = (value: unknown): void => {
    if (typeof value !== 'object' || value === null || seen.has(value)) return;
    seen.add(value);
    if (value instanceof Uint8Array) return;
    if (isPayload(value)) {
      out.push(value);
      return;
    }
    for (const child of Object.values(value)) walk(child);
  };
  walk(history);
  return out;
}

/** The whole history as text, every payload decoded by the codec: what someone with the key could read. */
export async function decodedHistoryText(
  history: temporal.api.history.v1.IHistory,
  codec: EncryptionCodec,
): Promise<string> {
  const decoded = await codec.decode(payloadsOf(history));
  const texts = decoded.map((p) => Buffer.from(p.data ?? new Uint8Array()).toString('utf8'));
  return `${JSON.stringify(history)}\n${texts.join('\n')}`;
}

/** The history as stored on the server, payload bytes included as text. */
export function rawHistoryText(history: temporal.api.history.v1.IHistory): string {
  const bytes = payloadsOf(history).map((p) => Buffer.from(p.data ?? new Uint8Array()).toString('latin1'));
  return `${JSON.stringify(history)}\n${bytes.join('\n')}`;
}
