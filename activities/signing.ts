import { createHmac } from 'node:crypto';

/** The HMAC-SHA256 signature of a POST pgferry sends: `v1=` hex over `timestamp.body`. */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * The headers of a JSON POST pgferry sends (webhook notifications, the endpoint switch): the
 * event, the delivery id a receiver de-duplicates by, and, with a secret, the signature over the
 * timestamp and body. Signed at send time: receivers refuse stale timestamps, and each retry is a
 * fresh send.
 */
export function postHeaders(options: {
  readonly event: string;
  readonly delivery?: string | undefined;
  readonly body: string;
  readonly secret?: string | undefined;
}): Record<string, string> {
  const timestamp = String(Math.floor(Date.now() / 1000));
  return {
    'content-type': 'application/json',
    'user-agent': 'pgferry',
    'x-pgferry-event': options.event,
    ...(options.delivery ? { 'x-pgferry-delivery': options.delivery } : {}),
    'x-pgferry-timestamp': timestamp,
    ...(options.secret
      ? { 'x-pgferry-signature': signWebhook(options.secret, timestamp, options.body) }
      : {}),
  };
}
