/**
 * Determinism: every stored history (recorded from real runs by scripts/record-histories.ts) replays
 * against today's workflow code. A change that breaks replay breaks running rollouts on deploy.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';

const dir = join(import.meta.dirname, 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

describe('replay of stored histories', () => {
  it('has stored histories for every workflow', () => {
    expect(files.filter((f) => f.startsWith('rollout-')).length).toBeGreaterThanOrEqual(4);
    expect(files.filter((f) => f.startsWith('experiment-')).length).toBeGreaterThanOrEqual(2);
  });

  it.each(files)('%s replays without non-determinism', async (file) => {
    // JSON as `temporal workflow show -o json` writes it; the worker converts it (historyFromJSON).
    const history: unknown = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    await expect(
      Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, history, file.replace(/\.json$/, '')),
    ).resolves.toBeUndefined();
  });
});
