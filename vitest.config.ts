import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{firmware-js,certs,provisioner,hil-tests,agent,scripts}/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Oracle-driven tests spawn Python processes; two cores is the budget.
    maxWorkers: 2,
  },
});
