/**
 * `modelshift stack` and docker-compose.yml in step: the same services, versions and environment.
 * Compose's defaults (`${VAR:-default}`) are compared with the stack's settings from an empty
 * environment; compose's host names (postgresql, temporal, sim) are 127.0.0.1 natively.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROLLOUT_SEARCH_ATTRIBUTES } from '../../src/rollout/contract';
import { expectedBinaries } from '../../src/stack/binaries';
import { serverConfigFromTemplate } from '../../src/stack/services';
import {
  COMPOSE_POSTGRES_VERSION,
  COMPOSE_SERVICES,
  DEFAULT_PORTS,
  modelshiftEnv,
  routerArgs,
  routerEnv,
  schemaEnv,
  SEARCH_ATTRIBUTES,
  setupEnv,
  simArgs,
  stackSettings,
  temporalServerEnv,
  TEMPORAL_SERVER_VERSION,
  TEMPORAL_UI_VERSION,
  uiEnv,
} from '../../src/stack/settings';

interface ComposeService {
  image?: string;
  environment?: Record<string, string>;
  command?: string[];
  ports?: string[];
}
const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as { services: Record<string, ComposeService> };
const services = compose.services;

/** `${VAR:-default}` → default. */
const resolved = (value: string): string => value.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1').replace(/\$\{[A-Z_]+\}/g, '');
/** The variables that name a compose host (postgresql, temporal, sim): 127.0.0.1 natively. */
const HOST_VARIABLES = new Set(['POSTGRES_SEEDS', 'SQL_HOST', 'TEMPORAL_ADDRESS', 'GATEWAY_BASE_URL']);
const native = (key: string, value: string): string =>
  HOST_VARIABLES.has(key)
    ? value.replace(/^(postgresql|temporal)(:\d+)?$/, '127.0.0.1$2').replace(/^http:\/\/sim:/, 'http://127.0.0.1:')
    : value;
const env = (service: string): Record<string, string> =>
  Object.fromEntries(Object.entries(services[service].environment ?? {}).map(([k, v]) => [k, native(k, resolved(String(v)))]));
const tag = (service: string): string => resolved(services[service].image ?? '').split(':')[1];

const s = stackSettings({ stateDir: '/nonexistent/stack' }, {});

describe('modelshift stack and docker-compose.yml', () => {
  it('has a native counterpart for every compose service, and no other', () => {
    expect(Object.keys(services).sort()).toEqual(Object.keys(COMPOSE_SERVICES).sort());
  });

  it('runs the same versions (PostgreSQL: Debian’s, noted)', () => {
    expect(tag('temporal')).toBe(TEMPORAL_SERVER_VERSION);
    expect(tag('temporal-schema').startsWith(`${TEMPORAL_SERVER_VERSION}-`)).toBe(true);
    expect(tag('temporal-setup').startsWith(`${TEMPORAL_SERVER_VERSION}-`)).toBe(true);
    expect(tag('temporal-ui')).toBe(TEMPORAL_UI_VERSION);
    expect(tag('postgresql')).toBe(COMPOSE_POSTGRES_VERSION);
    const b = expectedBinaries({ ...process.env, XDG_CACHE_HOME: '/cache' });
    expect(b.server).toContain(`temporal-server-v${TEMPORAL_SERVER_VERSION}`);
    expect(b.uiServer).toContain(`temporal-ui-server-v${TEMPORAL_UI_VERSION}`);
  });

  it('gives the Temporal server compose’s environment, and renders the image’s own config template with it', () => {
    const ours = temporalServerEnv(s);
    for (const [k, v] of Object.entries(env('temporal'))) expect(ours[k], k).toBe(v);
    const template = 'port: {{ default .Env.DB_PORT "5432" }}\nseeds: "{{ default .Env.POSTGRES_SEEDS "" }}"\n{{- if .Env.X }}\n';
    expect(serverConfigFromTemplate(template)).toContain('port: {{ default "5432" (env "DB_PORT") }}');
    expect(serverConfigFromTemplate(template)).toContain('{{- if (env "X") }}');
    expect(serverConfigFromTemplate(template).split('\n')[0]).toMatch(/^# enable-template/);
  });

  it('sets up both schemas as temporal-schema does', () => {
    for (const [k, v] of Object.entries(env('temporal-schema'))) expect(schemaEnv(s)[k], k).toBe(v);
    const script = services['temporal-schema'].command!.join('\n');
    expect(script).toContain('for db in temporal temporal_visibility');
    expect(script).toContain('setup-schema -v 0.0');
    expect(script).toMatch(/update-schema -d "\/etc\/temporal\/schema\/postgresql\/v12\/\$\$dir\/versioned"/);
    expect(expectedBinaries().schemaDir).toMatch(/schema\/postgresql\/v12$/);
  });

  it('registers the namespace and the same search attributes as temporal-setup, the rollout contract’s', () => {
    const e = env('temporal-setup');
    expect(setupEnv(s)).toEqual({ TEMPORAL_ADDRESS: e.TEMPORAL_ADDRESS, NAMESPACE: e.NAMESPACE, RETENTION: e.RETENTION });
    const script = services['temporal-setup'].command!.join('\n');
    const list = /for sa in ([^;]+);/.exec(script)![1].trim().split(/\s+/);
    expect(SEARCH_ATTRIBUTES.map((a) => `${a.name}:${a.type}`)).toEqual(list);
    expect(SEARCH_ATTRIBUTES.map((a) => a.name)).toEqual(ROLLOUT_SEARCH_ATTRIBUTES.map((k) => k.name));
  });

  it('gives the UI server, workers and routers compose’s environment', () => {
    const ui = uiEnv(s);
    for (const [k, v] of Object.entries(env('temporal-ui'))) expect(ui[k], k).toBe(v);
    expect(modelshiftEnv(s)).toEqual(env('worker'));
    expect(routerEnv(s)).toEqual(env('router'));
  });

  it('runs the router and the simulator with compose’s commands (bound to loopback, as compose publishes them)', () => {
    const router = services.router.command!.map(resolved);
    expect(routerArgs(s, 1)).toEqual(router.map((a) => (a === '0.0.0.0' ? '127.0.0.1' : a)));
    const sim = services.sim.command!.map(resolved);
    expect(simArgs(s)).toEqual(sim.map((a) => (a === '0.0.0.0' ? '127.0.0.1' : a)));
  });

  it('listens on the ports compose publishes', () => {
    const published = (service: string) => resolved(services[service].ports![0]).split(':');
    expect(published('temporal')).toEqual(['127.0.0.1', String(DEFAULT_PORTS.frontendGrpc), '7233']);
    expect(published('temporal-ui').slice(0, 2)).toEqual(['127.0.0.1', String(DEFAULT_PORTS.ui)]);
    expect(published('router').slice(0, 2)).toEqual(['127.0.0.1', String(DEFAULT_PORTS.router)]);
    expect(published('sim').slice(0, 2)).toEqual(['127.0.0.1', String(DEFAULT_PORTS.sim)]);
  });
});
