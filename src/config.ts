/**
 * Configuration from the environment (and `.env`), validated once at start-up with zod.
 * A missing or malformed value is a one-line error naming the variable and the fix.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { BadInput } from './errors';
import { unsafeBaseURL } from './gateway/policy';

export class ConfigError extends BadInput {
  override name = 'ConfigError';
}

const optionalString = z
  .string()
  .trim()
  .transform((s) => (s === '' ? undefined : s))
  .optional();

const HOST_PORT = 'expected host:port, e.g. localhost:7233 or my-ns.a1b2c.tmprl.cloud:7233';
const hostPort = z
  .string()
  .trim()
  .regex(/^[^\s:/]+(:\d{1,5})?$/, HOST_PORT)
  .refine((a) => {
    const port = a.split(':')[1];
    return port === undefined || (Number(port) >= 1 && Number(port) <= 65535);
  }, `${HOST_PORT} (a port from 1 to 65535)`);

/** A gateway base URL: http(s), and no credentials or query in it (a key there ends up in logs and history). */
const gatewayURL = (error: string) =>
  z.url({ protocol: /^https?$/, error }).superRefine((url, ctx) => {
    const unsafe = unsafeBaseURL(url);
    if (unsafe) ctx.addIssue({ code: 'custom', message: `expected a base URL without credentials or query: it ${unsafe}` });
  });

const EnvSchema = z.object({
  GATEWAY_BASE_URL: optionalString.pipe(gatewayURL('expected an http(s) URL such as https://api.openai.com/v1').optional()),
  GATEWAY_API_KEY: optionalString,
  // The seed design's names, still honoured so its users' .env files keep working.
  HOLYSHEEP_BASE_URL: optionalString.pipe(gatewayURL('expected an http(s) URL').optional()),
  HOLYSHEEP_API_KEY: optionalString,
  TEMPORAL_ADDRESS: optionalString.pipe(hostPort.optional()),
  TEMPORAL_NAMESPACE: z.string().trim().min(1).default('default'),
  TASK_QUEUE: z.string().trim().min(1).default('modelshift'),
  TEMPORAL_API_KEY: optionalString,
  TEMPORAL_TLS_CERT_PATH: optionalString,
  TEMPORAL_TLS_KEY_PATH: optionalString,
  TEMPORAL_TLS_CA_PATH: optionalString,
  TEMPORAL_TLS_SERVER_NAME: optionalString,
  TEMPORAL_PORT: z.coerce.number({ error: 'expected a port number' }).int().min(1).max(65535).default(7233),
  TEMPORAL_UI_PORT: z.coerce.number({ error: 'expected a port number' }).int().min(1).max(65535).default(8233),
  MODELSHIFT_STATE_DIR: z.string().trim().min(1).default('.modelshift'),
});

const FIX: Record<string, string> = {
  GATEWAY_BASE_URL:
    'set it to your OpenAI-compatible base URL, e.g. GATEWAY_BASE_URL=https://api.openai.com/v1, or unset it to use the built-in simulator',
  HOLYSHEEP_BASE_URL: 'set it to an http(s) URL such as https://api.holysheep.ai/v1, or use GATEWAY_BASE_URL',
  TEMPORAL_ADDRESS: 'set it to host:port of your Temporal frontend, or unset it to use the embedded dev server',
  TEMPORAL_PORT: 'set a number between 1 and 65535',
  TEMPORAL_UI_PORT: 'set a number between 1 and 65535',
};

export interface TemporalConfig {
  /** host:port; undefined → the embedded local dev server. */
  address?: string;
  namespace: string;
  taskQueue: string;
  apiKey?: string;
  tls?: { certPath?: string; keyPath?: string; caPath?: string; serverName?: string };
  devPort: number;
  uiPort: number;
}

export interface GatewayConfig {
  /** undefined → no gateway configured (npm start then runs the built-in simulator). */
  baseURL?: string;
  /** NAME of the environment variable holding the default key (the key itself is never copied around). */
  apiKeyEnv: string;
}

export interface Config {
  gateway: GatewayConfig;
  temporal: TemporalConfig;
  stateDir: string;
}

/** Load `.env` from the working directory once, without overriding variables already set. */
export function loadDotEnv(path = resolve('.env')): void {
  if (!existsSync(path)) return;
  const before = { ...process.env };
  process.loadEnvFile(path);
  for (const [k, v] of Object.entries(before)) process.env[k] = v; // the real environment wins
}

/** A value as an error may quote it: a URL's credentials and query (where keys hide) replaced by `***`. */
function redacted(value: string | undefined): string | undefined {
  if (value === undefined || !/^\s*https?:/i.test(value)) return value;
  try {
    const u = new URL(value.trim());
    if (u.username) u.username = '***';
    if (u.password) u.password = '***';
    if (u.search) u.search = '?***';
    if (u.hash) u.hash = '';
    return u.href;
  } catch {
    return value;
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue.path[0]);
    const fix = FIX[name] ?? 'fix or unset it';
    throw new ConfigError(`${name}: ${issue.message} (got ${JSON.stringify(redacted(env[name]))}); ${fix}`);
  }
  const e = parsed.data;
  const certOrKey = [e.TEMPORAL_TLS_CERT_PATH, e.TEMPORAL_TLS_KEY_PATH].filter(Boolean).length;
  if (certOrKey === 1) {
    const missing = e.TEMPORAL_TLS_CERT_PATH ? 'TEMPORAL_TLS_KEY_PATH' : 'TEMPORAL_TLS_CERT_PATH';
    throw new ConfigError(
      `${missing}: required for mTLS when the other of TEMPORAL_TLS_CERT_PATH / TEMPORAL_TLS_KEY_PATH is set; set both or neither`,
    );
  }
  for (const name of ['TEMPORAL_TLS_CERT_PATH', 'TEMPORAL_TLS_KEY_PATH', 'TEMPORAL_TLS_CA_PATH'] as const) {
    const p = e[name];
    if (p && !existsSync(p)) throw new ConfigError(`${name}: file ${p} does not exist; point it at the PEM file`);
  }
  if ((e.TEMPORAL_API_KEY || certOrKey) && !e.TEMPORAL_ADDRESS) {
    throw new ConfigError(
      'TEMPORAL_ADDRESS: required when TEMPORAL_API_KEY or mTLS is set; set it to your cluster, e.g. my-ns.a1b2c.tmprl.cloud:7233',
    );
  }
  const useTls = Boolean(e.TEMPORAL_API_KEY || certOrKey || e.TEMPORAL_TLS_CA_PATH || e.TEMPORAL_TLS_SERVER_NAME);
  const baseURL = e.GATEWAY_BASE_URL ?? e.HOLYSHEEP_BASE_URL;
  const apiKeyEnv = e.GATEWAY_API_KEY || !e.HOLYSHEEP_API_KEY ? 'GATEWAY_API_KEY' : 'HOLYSHEEP_API_KEY';
  return {
    gateway: { baseURL, apiKeyEnv },
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      taskQueue: e.TASK_QUEUE,
      apiKey: e.TEMPORAL_API_KEY,
      tls: useTls
        ? {
            certPath: e.TEMPORAL_TLS_CERT_PATH,
            keyPath: e.TEMPORAL_TLS_KEY_PATH,
            caPath: e.TEMPORAL_TLS_CA_PATH,
            serverName: e.TEMPORAL_TLS_SERVER_NAME,
          }
        : undefined,
      devPort: e.TEMPORAL_PORT,
      uiPort: e.TEMPORAL_UI_PORT,
    },
    stateDir: resolve(e.MODELSHIFT_STATE_DIR),
  };
}
