/** PostgreSQL WAL positions (LSNs, `16/B374D848`) compared without a server. */

/** An LSN as a number: the high and low 32-bit halves. */
function lsnValue(lsn: string): bigint {
  const [high = '0', low = '0'] = lsn.split('/');
  return (BigInt(`0x${high}`) << 32n) + BigInt(`0x${low}`);
}

/** True when `lsn` is at or past `target`. */
export function lsnAtLeast(lsn: string, target: string): boolean {
  return lsnValue(lsn) >= lsnValue(target);
}
