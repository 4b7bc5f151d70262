import { defineConfig } from 'vitest/config';

// `npm run record:histories`: the main suite's global setup (one Temporal dev server), only the recorders.
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/record/*.record.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
