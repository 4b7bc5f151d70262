import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

/** pgferry's version from its package.json, found from the source tree or from dist/. */
export function packageVersion(): string {
  for (const up of ['..', '../..']) {
    const file = path.resolve(__dirname, up, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'pgferry' && pkg.version) return pkg.version;
    }
  }
  return '0.0.0';
}
