/**
 * One real Temporal dev server for the whole test run (from the resolved CLI binary: cache, PATH,
 * a Go build, or the SDK download), and one workflow bundle shared by every test worker.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { startDevServer, type DevServer } from '../../src/temporal/devserver';
import { WORKFLOWS_PATH } from '../../src/worker';

let server: DevServer | undefined;

export async function setup(project: TestProject): Promise<void> {
  const log = (l: string) => process.stderr.write(`${l}\n`);
  server = await startDevServer({ log });
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: undefined });
  const dir = mkdtempSync(join(tmpdir(), 'modelshift-bundle-'));
  const bundlePath = join(dir, 'workflow-bundle.js');
  writeFileSync(bundlePath, code);
  project.provide('temporalAddress', server.address);
  project.provide('workflowBundlePath', bundlePath);
}

export async function teardown(): Promise<void> {
  await server?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    workflowBundlePath: string;
  }
}
