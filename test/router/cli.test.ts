/**
 * `modelshift router` and `modelshift sim` as real processes (node bin/modelshift.js): bad input — a
 * flag, an environment variable, a config or profile file — is one line on stderr naming the field and
 * what it expects, exit 2, and nothing is started (no warning, no "listening" line, the process ends).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { describe, expect, it } from 'vitest';
import { modelshift } from '../helpers/processes';

const dir = mkdtempSync(join(tmpdir(), 'router-cli-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

interface Case {
  args: string[];
  env?: Record<string, string>;
  /** what the one line must name */
  names: RegExp;
}

const badRouter: Case[] = [
  { args: ['--port', 'x'], names: /--port: expected a whole number between 0 and 65535, got "x"/ },
  { args: ['--port', '70000'], names: /--port: .*"70000"/ },
  { args: [], env: { ROUTER_PORT: '-1' }, names: /ROUTER_PORT: / },
  { args: ['--target', 'nonsense'], names: /--target: expected target=model/ },
  { args: [], env: { ROUTER_TARGETS: 'a=b,nonsense' }, names: /ROUTER_TARGETS: expected target=model.*"nonsense"/ },
  { args: [], env: { ROUTER_TARGETS: '{"x":1}' }, names: /ROUTER_TARGETS: x: / },
  { args: [], env: { ROUTER_TARGETS: '{"x":' }, names: /ROUTER_TARGETS: not valid JSON/ },
  { args: ['--config', join(dir, 'missing.yaml')], names: /missing\.yaml: cannot read the router config \(--config \/ ROUTER_CONFIG\)/ },
  { args: ['--config', file('port.yaml', 'port: "x"\n')], names: /port\.yaml: port: / },
  { args: ['--config', file('unknown.yaml', 'prot: 4000\n')], names: /unknown\.yaml: .*prot/ },
  { args: ['--config', file('broken.json', '{"port": 4000,')], names: /broken\.json: / },
  { args: ['--config', file('body.yaml', 'maxBodyBytes: 0\n')], names: /body\.yaml: maxBodyBytes: / },
  { args: ['--max-body-bytes', '0'], names: /--max-body-bytes: expected a whole number between 1 and/ },
  { args: [], env: { ROUTER_MAX_BODY_BYTES: '16MiB' }, names: /ROUTER_MAX_BODY_BYTES: .*"16MiB"/ },
  { args: ['--workers', '0'], names: /--workers: expected a whole number between 1 and 256, got "0"/ },
  { args: [], env: { ROUTER_WORKERS: 'all' }, names: /ROUTER_WORKERS: / },
  { args: ['--upstream-connections', '-5'], names: /--upstream-connections: / },
  { args: ['--ratio-from', 'router-0:4000'], names: /--ratio-from \/ ROUTER_RATIO_FROM: expected the http\(s\) URL of a router/ },
  { args: ['--poll-interval', '5'], names: /--poll-interval: expected a number between 50 and 60000/ },
  { args: ['--stale-after', 'soon'], names: /--stale-after: / },
  { args: ['--report-interval', '0'], names: /--report-interval: / },
  { args: [], env: { GATEWAY_BASE_URL: 'ftp://gateway.example' }, names: /GATEWAY_BASE_URL: expected an http\(s\) URL/ },
  { args: [], env: { ROUTER_KEY_ENVS: 'TEMPORAL_API_KEY' }, names: /TEMPORAL_API_KEY is the router's or Temporal's own secret/ },
  { args: [], env: { ROUTER_KEY_ENVS: 'not a name' }, names: /ROUTER_KEY_ENVS: expected environment variable names/ },
  { args: [], env: { ROUTER_ALLOWED_ORIGINS: 'ftp://x' }, names: /ROUTER_ALLOWED_ORIGINS: expected http\(s\) origins/ },
  { args: ['--temporal'], env: { TEMPORAL_ADDRESS: 'no port here!' }, names: /TEMPORAL_ADDRESS: / },
];

const badSim: Case[] = [
  { args: ['--port', '-1'], names: /--port: expected a whole number between 0 and 65535, got "-1"/ },
  { args: ['--port', 'x'], names: /--port: / },
  { args: ['--seed', 'x'], names: /--seed: expected a whole number/ },
  { args: ['--latency-scale', '-1'], names: /--latency-scale: / },
  { args: ['--profile', join(dir, 'missing.json')], names: /missing\.json: cannot read the profile file/ },
  {
    args: ['--profile', file('rate.json', '{"models":{"gpt-4.1":{"errorRate":2}}}')],
    names: /models\.gpt-4\.1\.errorRate: expected a number between 0 and 1/,
  },
  {
    args: ['--profile', file('sum.json', '{"models":{"gpt-4.1":{"errorRate":0.7,"timeoutRate":0.6}}}')],
    names: /sum\.json: .*must be <= 1/,
  },
];

/** The environment of a clean shell: none of the router's variables from the test's own environment. */
function env(extra: Record<string, string> = {}): Record<string, string | undefined> {
  const clean: Record<string, string | undefined> = {};
  for (const k of Object.keys(process.env)) if (/^(ROUTER_|GATEWAY_|TEMPORAL_)/.test(k)) clean[k] = undefined;
  return { ...clean, ...extra };
}

async function runAll(command: 'router' | 'sim', cases: Case[]) {
  const limit = pLimit(4);
  return Promise.all(
    cases.map((c) =>
      limit(async () => {
        // --no-temporal unless the case is about Temporal's settings: a mistake must stop the router before it connects
        const args =
          command === 'router' && !c.args.includes('--temporal') ? [...c.args, '--no-temporal'] : c.args.filter((a) => a !== '--temporal');
        return { c, r: await modelshift([command, ...args], env(c.env), 60_000) };
      }),
    ),
  );
}

function expectOneLine({ c, r }: Awaited<ReturnType<typeof runAll>>[number]): void {
  const what = `${c.args.join(' ')} ${JSON.stringify(c.env ?? {})}`;
  expect(r.code, `${what}: exit code`).toBe(2);
  expect(r.stdout, `${what}: nothing started`).toBe('');
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines, `${what}: one line on stderr`).toHaveLength(1);
  expect(lines[0]).toMatch(/^modelshift: /);
  expect(lines[0]).toMatch(c.names);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
}

describe('router and simulator: bad input as processes', () => {
  it(`router: ${badRouter.length} bad flags, variables and files → one line, exit 2, nothing started`, async () => {
    for (const ran of await runAll('router', badRouter)) expectOneLine(ran);
  }, 240_000);

  it(`sim: ${badSim.length} bad flags and profiles → one line, exit 2, nothing started`, async () => {
    for (const ran of await runAll('sim', badSim)) expectOneLine(ran);
  }, 180_000);
});
