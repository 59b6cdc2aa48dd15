/**
 * PostgreSQL for the stack: Debian's `postgresql` binaries, a cluster of our own in the state folder
 * (not the system's `main` cluster), run in the foreground under the supervisor. PostgreSQL refuses to
 * run as root, so as root everything runs as the `postgres` system user (the package creates it).
 * Superuser `temporal` with a password, as compose's POSTGRES_USER / POSTGRES_PASSWORD set it up.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceDef } from './supervisor';
import type { StackSettings } from './settings';

export interface PgLayout {
  bin: string;
  version: string;
  dir: string;
  data: string;
  socketDir: string;
  /** set when running as root: the postgres system user */
  uid?: number;
  gid?: number;
}

/** The newest Debian PostgreSQL install (/usr/lib/postgresql/<major>/bin), or a one-line hint. */
export function findPostgres(): { bin: string; version: string } {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'postgres')) && existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new Error('PostgreSQL is not installed: run `apt-get install -y postgresql` (Debian; .ci/run does) and try again');
  }
  return { bin: join(root, versions[0], 'bin'), version: versions[0] };
}

function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const r = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (r.status !== 0 || g.status !== 0) {
    throw new Error(
      'running as root, and there is no `postgres` system user to run PostgreSQL as (installing Debian’s postgresql creates it)',
    );
  }
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

export function pgLayout(s: StackSettings): PgLayout {
  const { bin, version } = findPostgres();
  const dir = join(s.stateDir, 'postgres');
  return { bin, version, dir, data: join(dir, 'data'), socketDir: join(dir, 'run'), ...postgresUser() };
}

function asOwner(pg: PgLayout, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(cmd, args, {
    uid: pg.uid,
    gid: pg.gid,
    cwd: pg.dir,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', HOME: pg.dir, ...env },
  });
}

/** Create the cluster once (initdb), owned by the user PostgreSQL runs as. */
export function initPostgres(s: StackSettings, log: (l: string) => void): PgLayout {
  const pg = pgLayout(s);
  mkdirSync(s.stateDir, { recursive: true });
  // The stack's own folder: the postgres user must be able to pass through it to its data.
  if (pg.uid !== undefined) chmodSync(s.stateDir, statSync(s.stateDir).mode | 0o711);
  for (const d of [pg.dir, pg.socketDir]) {
    mkdirSync(d, { recursive: true, mode: 0o700 });
    if (pg.uid !== undefined) chownSync(d, pg.uid, pg.gid!);
  }
  const probe = asOwner(pg, 'test', ['-w', pg.dir]);
  if (probe.status !== 0) {
    throw new Error(
      `the postgres user cannot write ${pg.dir}: put the state folder where it can reach it (e.g. not under /root), or set --state-dir`,
    );
  }
  if (existsSync(join(pg.data, 'PG_VERSION'))) return pg;
  log(`modelshift stack: creating a PostgreSQL ${pg.version} cluster in ${pg.data}`);
  const pwfile = join(pg.dir, '.pwfile');
  writeFileSync(pwfile, `${s.postgresPassword}\n`, { mode: 0o600 });
  if (pg.uid !== undefined) chownSync(pwfile, pg.uid, pg.gid!);
  const r = asOwner(pg, join(pg.bin, 'initdb'), [
    '-D',
    pg.data,
    '-U',
    s.postgresUser,
    `--pwfile=${pwfile}`,
    '--auth-local=scram-sha-256',
    '--auth-host=scram-sha-256',
    '-E',
    'UTF8',
    '--locale=C.UTF-8',
  ]);
  rmSync(pwfile, { force: true });
  if (r.status !== 0) {
    rmSync(pg.data, { recursive: true, force: true });
    throw new Error(`initdb failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}`);
  }
  return pg;
}

export function postgresService(s: StackSettings, pg: PgLayout, log: string): ServiceDef {
  return {
    name: 'postgresql',
    command: join(pg.bin, 'postgres'),
    args: [
      '-D',
      pg.data,
      '-p',
      String(s.ports.postgres),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `unix_socket_directories=${pg.socketDir}`,
    ],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', HOME: pg.dir },
    cwd: pg.dir,
    log,
    uid: pg.uid,
    gid: pg.gid,
    stopSignal: 'SIGINT', // fast shutdown: SIGTERM would wait for Temporal to disconnect
    stopTimeoutMs: 30_000,
  };
}

/** compose's health check: `pg_isready -U temporal -d postgres`. */
export function postgresReady(s: StackSettings, pg: PgLayout): boolean {
  const r = spawnSync(
    join(pg.bin, 'pg_isready'),
    ['-h', '127.0.0.1', '-p', String(s.ports.postgres), '-U', s.postgresUser, '-d', 'postgres'],
    {
      encoding: 'utf8',
      timeout: 5_000,
    },
  );
  return r.status === 0;
}
