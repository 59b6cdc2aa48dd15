import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';

let installed = false;

/** Quiet SDK logs for CLI use (WARN unless MODELSHIFT_LOG_LEVEL says otherwise). Call before connecting. */
export function installQuietRuntime(level = (process.env.MODELSHIFT_LOG_LEVEL ?? 'WARN').toUpperCase() as LogLevel): void {
  if (installed) return;
  installed = true;
  try {
    Runtime.install({ logger: new DefaultLogger(level) });
  } catch {
    /* already installed by someone else: keep theirs */
  }
}
