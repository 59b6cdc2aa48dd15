/**
 * The zod fields of an arm (ArmRef: model, baseURL, apiKeyEnv) as every spec that names one validates
 * them — the rollout's blue and green, guards.judge. Declared once so the rules and their messages agree:
 * a model name a gateway can spell, an http(s) base URL without credentials (one spelling per gateway),
 * and the NAME of the key's environment variable, never the key. Not workflow code (zod).
 */
import { z } from 'zod';
import { unsafeBaseURL } from './policy';

export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Model names as gateways spell them: no spaces or control characters, short enough for a search attribute. */
// eslint-disable-next-line no-control-regex -- refusing control characters is the point
const MODEL_NAME = /^[^\s\u0000-\u001f\u007f]{0,200}$/u;

export const armFields = {
  model: z
    .string()
    .trim()
    .min(1, 'expected a model name such as gpt-4.1')
    .regex(MODEL_NAME, 'expected a model name such as gpt-4.1 (at most 200 characters, no spaces or control characters)'),
  baseURL: z
    .url({ protocol: /^https?$/, error: 'expected an http(s) URL such as https://api.openai.com/v1' })
    .max(2000)
    .superRefine((url, ctx) => {
      const unsafe = unsafeBaseURL(url);
      if (unsafe) ctx.addIssue({ code: 'custom', message: `expected a base URL without credentials or query: it ${unsafe}` });
    })
    // One spelling per gateway: https://gw/v1/ and https://gw/v1 are the same gateway.
    .transform((url) => url.replace(/\/+$/, ''))
    .optional(),
  apiKeyEnv: z
    .string()
    .regex(ENV_NAME, 'expected the NAME of an environment variable (e.g. OPENAI_API_KEY), never the key itself')
    .optional(),
};
