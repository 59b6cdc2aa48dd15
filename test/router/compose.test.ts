/**
 * docker-compose.yml is validated by a Compose implementation's `config`, offline. In order of
 * preference: `docker compose` (plugin), `docker-compose`, $MODELSHIFT_COMPOSE_BIN (e.g. the Compose
 * CLI built from the Go module github.com/docker/compose/v5/cmd), or the Compose Specification's own
 * loader/validator, `go run github.com/compose-spec/compose-go/v2/cmd` (from the Go module proxy;
 * the library docker compose itself loads files with). Skips, saying so, only when none can run.
 * The project model it prints is then checked for what the stack needs.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const COMPOSE_GO = 'github.com/compose-spec/compose-go/v2/cmd@v2.16.2';

interface Validator {
  name: string;
  run(args: { profiles: string[] }): { status: number | null; stdout: string; stderr: string };
}

function works(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000 });
  return r.status === 0;
}

function findValidator(): Validator | string {
  const env = { ...process.env, COMPOSE_PROJECT_NAME: 'modelshift' };
  const viaCli = (name: string, cmd: string, pre: string[]): Validator => ({
    name,
    run: ({ profiles }) => {
      const r = spawnSync(
        cmd,
        [...pre, '-f', 'docker-compose.yml', ...profiles.flatMap((p) => ['--profile', p]), 'config', '--format', 'json'],
        { cwd: ROOT, encoding: 'utf8', env, timeout: 60_000 },
      );
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    },
  });
  if (works('docker', ['compose', 'version'])) return viaCli('docker compose', 'docker', ['compose']);
  if (works('docker-compose', ['version'])) return viaCli('docker-compose', 'docker-compose', []);
  const bin = process.env.MODELSHIFT_COMPOSE_BIN;
  if (bin && works(bin, ['version'])) return viaCli(bin, bin, []);
  if (works('go', ['version'])) {
    return {
      name: `go run ${COMPOSE_GO}`,
      run: ({ profiles }) => {
        const r = spawnSync('go', ['run', COMPOSE_GO, '--format', 'json', 'docker-compose.yml'], {
          cwd: ROOT,
          encoding: 'utf8',
          env: { ...env, COMPOSE_PROFILES: profiles.join(','), GOFLAGS: '-mod=mod' },
          timeout: 170_000,
        });
        return { status: r.status, stdout: r.stdout, stderr: r.stderr };
      },
    };
  }
  return 'no Compose implementation can run here: neither `docker compose`, `docker-compose`, $MODELSHIFT_COMPOSE_BIN nor Go (for compose-go) was found';
}

const validator = findValidator();
const reason = typeof validator === 'string' ? validator : undefined;
if (reason) console.warn(`SKIP docker-compose.yml validation: ${reason}`);

interface Service {
  image?: string;
  build?: unknown;
  command?: string[] | null;
  entrypoint?: string[] | null;
  environment?: Record<string, string | null>;
  depends_on?: Record<string, { condition: string; required?: boolean }>;
  healthcheck?: { test?: string[] };
  restart?: string;
  profiles?: string[];
  ports?: unknown[];
}

describe.skipIf(reason !== undefined)(
  `docker-compose.yml (validated by ${typeof validator === 'string' ? 'nothing' : validator.name})`,
  () => {
    const load = (profiles: string[]): { services: Record<string, Service> } => {
      const r = (validator as Validator).run({ profiles });
      if (r.status !== 0) throw new Error(`compose config failed (exit ${r.status}): ${r.stderr.trim()}`);
      return JSON.parse(r.stdout);
    };

    it('is a valid Compose project with the whole stack', { timeout: 180_000 }, () => {
      const { services } = load(['sim']);
      for (const s of ['postgresql', 'temporal-schema', 'temporal', 'temporal-setup', 'temporal-ui', 'sim', 'worker', 'router'])
        expect(services[s], s).toBeDefined();

      // every depends_on names a service of the project (compose-go's loader alone does not check this)
      for (const [name, s] of Object.entries(services))
        for (const dep of Object.keys(s.depends_on ?? {})) expect(services[dep], `${name} depends on ${dep}`).toBeDefined();

      // Temporal: plain server image, schema by a one-shot temporal-sql-tool run, not auto-setup
      expect(services.temporal.image).toMatch(/^temporalio\/server:/);
      expect(JSON.stringify(services)).not.toContain('auto-setup');
      expect(services['temporal-schema'].image).toMatch(/^temporalio\/admin-tools:/);
      expect(JSON.stringify(services['temporal-schema'].command)).toContain('temporal-sql-tool');
      expect(services.temporal.depends_on!['temporal-schema'].condition).toBe('service_completed_successfully');
      expect(services['temporal-ui'].image).toMatch(/^temporalio\/ui:/);

      // one-shot search attributes
      const setup = JSON.stringify(services['temporal-setup'].command);
      for (const sa of ['RolloutTarget:Keyword', 'RolloutPhase:Keyword', 'BlueModel:Keyword', 'GreenModel:Keyword', 'GreenPercent:Int'])
        expect(setup).toContain(sa);

      // our image, run via npx modelshift, configured like the CLI
      for (const s of ['worker', 'router', 'sim']) expect(services[s].build, s).toBeDefined();
      expect(services.worker.command).toEqual(['worker']);
      expect(services.router.command?.[0]).toBe('router');
      for (const s of ['worker', 'router'])
        for (const v of ['GATEWAY_BASE_URL', 'GATEWAY_API_KEY', 'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TASK_QUEUE'])
          expect(services[s].environment, `${s} ${v}`).toHaveProperty(v);
      expect(services.router.environment).toHaveProperty('ROUTER_API_KEYS');
      expect(services.sim.profiles).toEqual(['sim']);

      // health checks and restart policies
      for (const s of ['postgresql', 'temporal', 'sim', 'router'])
        expect(services[s].healthcheck?.test?.length, `${s} healthcheck`).toBeGreaterThan(0);
      for (const s of ['postgresql', 'temporal', 'temporal-ui', 'sim', 'worker', 'router'])
        expect(services[s].restart, `${s} restart`).toBe('unless-stopped');
    });

    it('without the sim profile the simulator is left out and nothing requires it', { timeout: 180_000 }, () => {
      const { services } = load([]);
      // docker compose drops profiled services; compose-go's raw model keeps them but marks the profile
      if (services.sim) expect(services.sim.profiles).toEqual(['sim']);
      expect(services.router.depends_on!.sim?.required ?? false).toBe(false);
      expect(services.worker.depends_on!.sim?.required ?? false).toBe(false);
    });
  },
);

describe('Dockerfile', () => {
  it('builds from node:20 with npm ci and runs npx modelshift', async () => {
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(resolve(ROOT, 'Dockerfile'), 'utf8');
    expect(text).toMatch(/^FROM node:20/m);
    expect(text).toMatch(/npm ci/);
    expect(text).toMatch(/ENTRYPOINT \["npx", "--no-install", "modelshift"\]/);
  });
});
