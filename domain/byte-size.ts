/** Sizes as people write them: `268435456`, `256MB`, `10GB`, `1.5TB` (binary units, as PostgreSQL's). */

const UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
};

/** What a size looks like, for an error's fix. */
export const BYTE_SIZE_EXAMPLES = 'a size such as 512MB, 10GB or 1TB (or a number of bytes)';

/** Bytes of a size written as `256MB`, `10GB` or a plain number of bytes; undefined when it is not one. */
export function parseByteSize(value: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]?b?)$/i.exec(value.trim());
  const unit = match ? UNITS[(match[2] ?? '').toLowerCase()] : undefined;
  if (!match || unit === undefined) return undefined;
  const bytes = Math.round(Number(match[1]) * unit);
  return Number.isFinite(bytes) ? bytes : undefined;
}

/** 12345678 → "11.8 MB": bytes as a person reads them (binary units). */
export function formatByteSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  // 1023.96 kB would print as "1024.0 kB": roll over on the rounded value.
  while (Number(value.toFixed(1)) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
