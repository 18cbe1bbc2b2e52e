import { defineConfig } from 'vitest/config';

// Two projects: `unit` is the pure core (fast, no root, no network);
// `lab` talks to real OpenSSH hosts brought up by scripts/lab.sh and runs files one at a time
// because the test files share the lab's hosts.
export default defineConfig({
  test: {
    projects: [
      // Generous timeout: some unit tests run real processes (sh, promtool, the CLI) on a 2-core machine.
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], environment: 'node', testTimeout: 30_000 } },
      {
        test: {
          name: 'lab',
          include: ['test/lab/**/*.test.ts'],
          environment: 'node',
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
