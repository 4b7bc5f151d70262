import * as path from 'node:path';

/** The CLI entry point, as `npx pgferry` runs it (the compiled dist/). Free of vitest, so harnesses outside it can spawn it too. */
export const CLI = path.resolve(__dirname, '../../bin/pgferry.js');
