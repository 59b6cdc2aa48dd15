/**
 * An arm: a model and where to reach it. Declared once; the rollout spec, the rollout's messages, the
 * router's targets and the experiment's models all use this shape. Keys never appear here: an arm names
 * the environment variable that holds its key, and the process that calls the gateway reads it.
 */
export interface ArmRef {
  model: string;
  /** Gateway base URL for this arm (absent → the process's GATEWAY_BASE_URL). */
  baseURL?: string;
  /** NAME of the environment variable holding this arm's key (never the key itself). */
  apiKeyEnv?: string;
}
