import { defineConfig } from 'vitest/config';

// Two projects: `unit` needs no lab (pure logic, plus real sh, git, promtool and the CLI on this machine);
// `lab` talks to real OpenSSH hosts brought up by scripts/lab.sh. Its files share the lab's hosts and
// must run one at a time: `npm run test:lab` passes --no-file-parallelism (a root-only option, which a
// project cannot set for itself).
export default defineConfig({
  test: {
    projects: [
      // Generous timeout: some unit tests run real processes (sh, promtool, the CLI) on a 2-core machine.
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          testTimeout: 30_000,
          // The CLI tests run the built CLI: built here when missing or stale, so no prior `npm run build`.
          globalSetup: ['test/support/build-once.ts'],
        },
      },
      {
        test: {
          name: 'lab',
          include: ['test/lab/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
