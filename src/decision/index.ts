// Workflow-safe entry point (no zod). The zod schema lives in ./guards-schema.
export * from './arm-stats';
export * from './verdict';
export { DEFAULT_GUARDS } from './defaults';
export type { Guards } from './guards-schema';
