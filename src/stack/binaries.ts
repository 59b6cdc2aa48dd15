/**
 * The stack's official binaries — the Temporal server, temporal-sql-tool and the UI server, of the
 * compose file's versions — built with `go install` from the Go module proxy into the user cache
 * (outside the clone, beside the Temporal CLI), with progress shown. The server module carries its SQL
 * schema and the config template its Docker image renders; the UI module carries its config template:
 * both are copied into the cache next to the binaries, so a later `go clean -modcache` loses nothing.
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, cpSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir as cliCacheDir } from '../temporal/cli';
import { TEMPORAL_SERVER_MODULE, TEMPORAL_SERVER_VERSION, TEMPORAL_UI_MODULE, TEMPORAL_UI_VERSION } from './settings';

export interface StackBinaries {
  server: string;
  sqlTool: string;
  uiServer: string;
  /** …/schema/postgresql/v12 with temporal/ and visibility/ */
  schemaDir: string;
  /** the server image's config template (rendered by the server itself: `# enable-template`) */
  serverConfigTemplate: string;
  /** the server's empty docker dynamic config */
  serverDynamicConfig: string;
  /** the UI image's config (a template the UI server renders from the environment) */
  uiConfigTemplate: string;
}

type Log = (line: string) => void;

/** ~/.cache/modelshift (or $XDG_CACHE_HOME/modelshift), where the Temporal CLI is cached too. */
export function stackCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return join(cliCacheDir(env), '..');
}

export function serverCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(stackCacheRoot(env), `temporal-server-v${TEMPORAL_SERVER_VERSION}`);
}

export function uiCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(stackCacheRoot(env), `temporal-ui-server-v${TEMPORAL_UI_VERSION}`);
}

export function expectedBinaries(env: NodeJS.ProcessEnv = process.env): StackBinaries {
  const s = serverCacheDir(env);
  const u = uiCacheDir(env);
  return {
    server: join(s, 'server'),
    sqlTool: join(s, 'sql'),
    uiServer: join(u, 'server'),
    schemaDir: join(s, 'schema', 'postgresql', 'v12'),
    serverConfigTemplate: join(s, 'config_template.yaml'),
    serverDynamicConfig: join(s, 'dynamicconfig', 'docker.yaml'),
    uiConfigTemplate: join(u, 'config', 'docker.yaml'),
  };
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The binaries when all are cached; undefined otherwise. */
export function findStackBinaries(env: NodeJS.ProcessEnv = process.env): StackBinaries | undefined {
  const b = expectedBinaries(env);
  const ok =
    isExecutable(b.server) &&
    isExecutable(b.sqlTool) &&
    isExecutable(b.uiServer) &&
    existsSync(join(b.schemaDir, 'temporal', 'versioned')) &&
    existsSync(join(b.schemaDir, 'visibility', 'versioned')) &&
    existsSync(b.serverConfigTemplate) &&
    existsSync(b.serverDynamicConfig) &&
    existsSync(b.uiConfigTemplate);
  return ok ? b : undefined;
}

interface GoBuild {
  what: string;
  pkg: string;
  bin: string;
  dir: string;
}

function goInstall(b: GoBuild, log: Log, env: NodeJS.ProcessEnv): Promise<void> {
  mkdirSync(b.dir, { recursive: true });
  log(`modelshift stack: building ${b.what} (go install ${b.pkg}) into ${b.dir}`);
  const started = Date.now();
  return new Promise((resolveBuild, reject) => {
    const child = spawn('go', ['install', '-v', b.pkg], {
      env: { ...env, GOBIN: b.dir, GOFLAGS: env.GOFLAGS ?? '-mod=mod' },
      cwd: b.dir, // outside any Go module, so `go install pkg@version` is used as intended
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let packages = 0;
    let lastLine = '';
    const tail: string[] = [];
    const onData = (buf: Buffer) => {
      for (const line of buf.toString().split('\n')) {
        if (!line.trim()) continue;
        lastLine = line.trim();
        tail.push(lastLine);
        if (tail.length > 20) tail.shift();
        if (!line.startsWith('go: downloading')) packages++;
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setInterval(() => {
      const s = Math.round((Date.now() - started) / 1000);
      log(`modelshift stack:   … ${b.what}: ${s}s, ${packages} packages compiled (${lastLine.slice(0, 80)})`);
    }, 15_000);
    child.on('error', (err) => {
      clearInterval(timer);
      reject(new Error(`go install ${b.pkg}: ${err.message} (is Go installed?)`));
    });
    child.on('close', (code) => {
      clearInterval(timer);
      if (code === 0 && isExecutable(b.bin)) {
        log(`modelshift stack: ${b.what} ready in ${Math.round((Date.now() - started) / 1000)}s: ${b.bin}`);
        resolveBuild();
      } else reject(new Error(`go install ${b.pkg} failed (exit ${code}):\n${tail.join('\n')}`));
    });
  });
}

function moduleDir(module: string, version: string, env: NodeJS.ProcessEnv): string {
  const r = spawnSync('go', ['env', 'GOMODCACHE'], { env, encoding: 'utf8' });
  const modcache = r.stdout?.trim();
  if (r.status !== 0 || !modcache) throw new Error(`go env GOMODCACHE failed: ${r.stderr}`);
  // The module cache escapes capital letters as !x; these module paths have none.
  return join(modcache, `${module}@v${version}`);
}

/** Resolve the binaries, building what is missing (minutes on 2 cores the first time; instant after). */
export async function ensureStackBinaries(
  log: Log = (l) => console.error(l),
  env: NodeJS.ProcessEnv = process.env,
): Promise<StackBinaries> {
  const found = findStackBinaries(env);
  if (found) return found;
  const b = expectedBinaries(env);
  const serverPkg = `${TEMPORAL_SERVER_MODULE}/cmd/server@v${TEMPORAL_SERVER_VERSION}`;
  const sqlPkg = `${TEMPORAL_SERVER_MODULE}/cmd/tools/sql@v${TEMPORAL_SERVER_VERSION}`;
  const uiPkg = `${TEMPORAL_UI_MODULE}/cmd/server@v${TEMPORAL_UI_VERSION}`;
  log('modelshift stack: building the official Temporal server, temporal-sql-tool and UI server from the Go module proxy;');
  log('modelshift stack: the first build takes several minutes on 2 cores (about 6 min here); later runs reuse the cache.');
  // One after the other: each build already uses every core, and the sql tool reuses the server's packages.
  if (!isExecutable(b.server))
    await goInstall(
      { what: `Temporal server ${TEMPORAL_SERVER_VERSION}`, pkg: serverPkg, bin: b.server, dir: serverCacheDir(env) },
      log,
      env,
    );
  if (!isExecutable(b.sqlTool))
    await goInstall(
      { what: `temporal-sql-tool ${TEMPORAL_SERVER_VERSION}`, pkg: sqlPkg, bin: b.sqlTool, dir: serverCacheDir(env) },
      log,
      env,
    );
  if (!isExecutable(b.uiServer))
    await goInstall({ what: `Temporal UI server ${TEMPORAL_UI_VERSION}`, pkg: uiPkg, bin: b.uiServer, dir: uiCacheDir(env) }, log, env);
  const server = moduleDir(TEMPORAL_SERVER_MODULE, TEMPORAL_SERVER_VERSION, env);
  cpSync(join(server, 'schema', 'postgresql', 'v12'), b.schemaDir, { recursive: true });
  cpSync(join(server, 'docker', 'config_template.yaml'), b.serverConfigTemplate);
  cpSync(join(server, 'config', 'dynamicconfig', 'docker.yaml'), b.serverDynamicConfig);
  cpSync(join(moduleDir(TEMPORAL_UI_MODULE, TEMPORAL_UI_VERSION, env), 'config', 'docker.yaml'), b.uiConfigTemplate);
  const ready = findStackBinaries(env);
  if (!ready) throw new Error(`the stack's binaries are still incomplete in ${serverCacheDir(env)} and ${uiCacheDir(env)}`);
  return ready;
}
