import { defineConfig } from 'vitest/config';

// `npm run test:long`: the long runs that the CI suite leaves out (they hold the two cores for
// minutes and, beside the rest of the suite, outlast their own waits), on the main suite's global
// setup (one Temporal dev server).
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/long/*.long.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    maxWorkers: 1,
  },
});
