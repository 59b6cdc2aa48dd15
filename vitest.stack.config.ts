/**
 * `npm run test:stack`: the tests on the native production topology (src/stack), apart from `npm test`
 * because they bring up PostgreSQL, the Temporal server, 3 workers and 2 routers (about a minute) and
 * restart them. One file, run alone: the faults it injects are the whole stack's.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/stack/**/*.stack.ts'],
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 900_000,
  },
});
