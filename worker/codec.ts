import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { ErrorCode, PgferryError } from '../domain/errors';

/** The metadata encoding of a payload this codec encrypted. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** The metadata key that names the key a payload was encrypted with. */
export const KEY_ID_METADATA = 'encryption-key-id';

const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A named AES-256 key. */
export interface CodecKey {
  readonly id: string;
  readonly key: Buffer;
}

/**
 * Encrypts every payload with AES-256-GCM under the current key, and decrypts payloads made with
 * any key of its ring. Payloads it did not encrypt (plain JSON from another client) pass as they are.
 */
export class EncryptionCodec implements PayloadCodec {
  private readonly current: CodecKey;
  private readonly ring: ReadonlyMap<string, Buffer>;

  constructor(current: CodecKey, older: readonly CodecKey[] = []) {
    for (const k of [current, ...older]) {
      if (k.key.length !== 32) {
        throw new PgferryError(
          ErrorCode.InvalidInput,
          `codec key "${k.id}" is ${k.key.length} bytes, not 32`,
          {
            field: 'PGFERRY_CODEC_KEY',
            fix: 'use 32 random bytes, base64-encoded (openssl rand -base64 32)',
          },
        );
      }
    }
    this.current = current;
    // The current key is set last, so an older key that shares its id never shadows it.
    this.ring = new Map([...older, current].map((k) => [k.id, k.key]));
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const iv = randomBytes(IV_LENGTH);
      const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
      const plain = Buffer.from(
        JSON.stringify({
          metadata: Object.fromEntries(
            Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
          ),
          data: payload.data ? Buffer.from(payload.data).toString('base64') : '',
        }),
      );
      const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: {
          encoding: encoder.encode(ENCRYPTED_ENCODING),
          [KEY_ID_METADATA]: encoder.encode(this.current.id),
        },
        data: sealed,
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const encoding = payload.metadata?.encoding ? decoder.decode(payload.metadata.encoding) : '';
      if (encoding !== ENCRYPTED_ENCODING) return payload;
      const idBytes = payload.metadata?.[KEY_ID_METADATA];
      const id = idBytes ? decoder.decode(idBytes) : '';
      const key = this.ring.get(id);
      if (!key) {
        throw new PgferryError(
          ErrorCode.InvalidInput,
          `a payload was encrypted with key "${id}", which this process does not have`,
          {
            field: 'PGFERRY_CODEC_KEY',
            fix: 'give every client and worker the same codec key (PGFERRY_CODEC_KEY or the key file)',
          },
        );
      }
      const sealed = Buffer.from(payload.data ?? new Uint8Array());
      const iv = sealed.subarray(0, IV_LENGTH);
      const tag = sealed.subarray(sealed.length - TAG_LENGTH);
      const decipher = createDecipheriv('aes-256-gcm', key, iv);
      decipher.setAuthTag(tag);
      const plain = Buffer.concat([
        decipher.update(sealed.subarray(IV_LENGTH, sealed.length - TAG_LENGTH)),
        decipher.final(),
      ]);
      const inner = JSON.parse(plain.toString('utf8')) as { metadata: Record<string, string>; data: string };
      return {
        metadata: Object.fromEntries(
          Object.entries(inner.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')]),
        ),
        data: Buffer.from(inner.data, 'base64'),
      };
    });
  }
}
