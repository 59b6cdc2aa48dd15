/**
 * One place that turns configuration into Temporal connections, for the CLI (client) and the worker.
 * TEMPORAL_ADDRESS set → that cluster (API key or mTLS as configured). Unset → the embedded dev server:
 * one already answering on localhost:TEMPORAL_PORT (e.g. `modelshift dev` in another terminal), or,
 * where the caller allows it, a new one.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import type { Config, TemporalConfig } from '../config';
import { startDevServer, type DevServer } from './devserver';
import { ROLLOUT_SEARCH_ATTRIBUTES } from '../rollout/contract';

export function connectionOptions(t: TemporalConfig, address: string): ConnectionOptions & NativeConnectionOptions {
  const tls = t.tls
    ? {
        serverNameOverride: t.tls.serverName,
        serverRootCACertificate: t.tls.caPath ? readFileSync(t.tls.caPath) : undefined,
        clientCertPair:
          t.tls.certPath && t.tls.keyPath ? { crt: readFileSync(t.tls.certPath), key: readFileSync(t.tls.keyPath) } : undefined,
      }
    : undefined;
  return { address, tls, apiKey: t.apiKey, metadata: t.apiKey ? { 'temporal-namespace': t.namespace } : undefined };
}

export function embeddedAddress(t: TemporalConfig): string {
  return `127.0.0.1:${t.devPort}`;
}

/** The address to use, without starting anything. */
export function targetAddress(t: TemporalConfig): string {
  return t.address ?? embeddedAddress(t);
}

export class TemporalUnreachableError extends Error {
  override name = 'TemporalUnreachableError';
}

export async function connectClient(config: Config, opts: { connectTimeoutMs?: number } = {}): Promise<Client> {
  const address = targetAddress(config.temporal);
  let connection: Connection;
  try {
    connection = await Connection.connect({
      ...connectionOptions(config.temporal, address),
      connectTimeout: opts.connectTimeoutMs ?? 5000,
    });
  } catch (err) {
    const hint = config.temporal.address
      ? 'check TEMPORAL_ADDRESS and its credentials'
      : 'start the local server with `npx modelshift dev` (or `npm start`), or set TEMPORAL_ADDRESS';
    throw new TemporalUnreachableError(`Temporal is not reachable at ${address}: ${(err as Error).message.split('\n')[0]}; ${hint}`);
  }
  return new Client({ connection, namespace: config.temporal.namespace });
}

export async function connectWorker(config: Config): Promise<NativeConnection> {
  return NativeConnection.connect(connectionOptions(config.temporal, targetAddress(config.temporal)));
}

async function answers(address: string): Promise<boolean> {
  try {
    const c = await Connection.connect({ address, connectTimeout: 1500 });
    await c.close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Make sure there is a server to talk to. With TEMPORAL_ADDRESS, only checks the search attributes
 * exist (registering them where the server allows). Without it, reuses a dev server already on the
 * embedded port or starts one (Web UI on TEMPORAL_UI_PORT, SQLite in the state folder).
 * Returns the started server (caller stops it) or undefined when an existing one is used.
 */
export async function ensureServer(config: Config, log: (l: string) => void = (l) => console.error(l)): Promise<DevServer | undefined> {
  const t = config.temporal;
  if (t.address) {
    await registerSearchAttributes(config, log);
    return undefined;
  }
  const address = embeddedAddress(t);
  if (await answers(address)) {
    log(`modelshift: using the Temporal server already running at ${address}`);
    await registerSearchAttributes(config, log);
    return undefined;
  }
  log(`modelshift: starting the local Temporal dev server on ${address} (Web UI http://localhost:${t.uiPort})`);
  return startDevServer({
    port: t.devPort,
    uiPort: t.uiPort,
    namespace: t.namespace,
    dbFilename: join(config.stateDir, 'temporal.sqlite'),
    log,
  });
}

/** Register the rollout search attributes on a server that lacks them (best effort). */
export async function registerSearchAttributes(config: Config, log: (l: string) => void): Promise<void> {
  const client = await connectClient(config);
  try {
    const ns = config.temporal.namespace;
    const have = await client.connection.operatorService.listSearchAttributes({ namespace: ns });
    const missing = ROLLOUT_SEARCH_ATTRIBUTES.filter((k) => !(k.name in (have.customAttributes ?? {})));
    if (missing.length === 0) return;
    const type = { KEYWORD: 2, INT: 3 } as const; // temporal.api.enums.v1.IndexedValueType
    await client.connection.operatorService.addSearchAttributes({
      namespace: ns,
      searchAttributes: Object.fromEntries(missing.map((k) => [k.name, type[k.type as 'KEYWORD' | 'INT']])),
    });
    log(`modelshift: registered search attributes ${missing.map((k) => k.name).join(', ')}`);
  } catch (err) {
    log(
      `modelshift: could not check/register search attributes (${(err as Error).message.split('\n')[0]}); register RolloutTarget, RolloutPhase, BlueModel, GreenModel (Keyword), GreenPercent and RolloutAttempt (Int) on the namespace`,
    );
  } finally {
    await client.connection.close();
  }
}
