/**
 * Did the gateway answer with another model than the one asked for? Gateways fall back on their own
 * (LiteLLM `fallbacks`, Cloudflare AI Gateway's universal endpoint, OpenRouter's `models`), and the
 * answer then looks like a success of the model asked for while another model wrote it. For a rollout
 * that is a failure of the arm asked for — of class `substituted` — however good the answer: its
 * latency, tokens and quality belong to another model. Pure, so the router and the probes share it.
 *
 * Substituted when any of these says so:
 * - the response's `model` (JSON body, or the first SSE chunk) is not the model asked for. The same
 *   model is: the same name (case aside), a dated snapshot of it (`gpt-4.1-2025-04-14`, `…-20250414`,
 *   `…@20250414`, `gpt-4-0613` for `gpt-4.1` / `gpt-4`), or either with a provider prefix
 *   (`openai/gpt-4.1`). No `model` at all says nothing.
 * - LiteLLM: `x-litellm-attempted-fallbacks` above 0.
 * - Cloudflare AI Gateway: `cf-aig-step` above 0 (step 0 is the first provider of the fallback list).
 * - ngrok AI Gateway: `ngrok-aig-model` (the model that produced the answer) not the model asked for.
 * (Portkey's `x-portkey-last-used-option-index` names the target of its config that answered, but an
 * index above 0 is normal under load balancing, so it alone proves nothing and is not used.)
 */

/** A response header by lower-case name (fetch's `headers.get`, or a lookup in node:http / undici headers). */
export type HeaderLookup = (name: string) => string | null | undefined;

/** A dated snapshot's suffix: -2025-04-14, -20250414, @20250414, or a month and day, -0613. */
const MMDD = '(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\\d|3[01])';
const SNAPSHOT = new RegExp(`^(?:-\\d{4}-\\d{2}-\\d{2}|[-@]\\d{4}${MMDD}|-${MMDD})$`);

/** The name without a provider prefix (`openai/gpt-4.1` → `gpt-4.1`), lower-case. */
function bare(model: string): string {
  const m = model.trim().toLowerCase();
  return m.slice(m.lastIndexOf('/') + 1);
}

/** Whether `answered` names the model `requested` asked for (itself, a dated snapshot of it, with or without a provider prefix). */
export function sameModel(requested: string, answered: string): boolean {
  const r = bare(requested);
  const a = bare(answered);
  return a === r || (a.startsWith(r) && SNAPSHOT.test(a.slice(r.length)));
}

/** A count in a header: the number, or 0 when absent or not a number. */
function count(header: HeaderLookup, name: string): number {
  const n = Number.parseInt(header(name) ?? '', 10);
  return Number.isFinite(n) ? n : 0;
}

/**
 * Why the answer came from another model than `requested`, in one line; undefined when nothing says it
 * did. `answered` is the response's `model` (undefined when it has none).
 */
export function substitution(requested: string, answered: string | null | undefined, header: HeaderLookup): string | undefined {
  const fallbacks = count(header, 'x-litellm-attempted-fallbacks');
  if (fallbacks > 0) return `the gateway fell back to another model (x-litellm-attempted-fallbacks: ${fallbacks})`;
  const step = count(header, 'cf-aig-step');
  if (step > 0) return `the gateway fell back to another provider (cf-aig-step: ${step})`;
  const ngrok = header('ngrok-aig-model');
  if (ngrok && !sameModel(requested, ngrok)) return `answered by ${ngrok.slice(0, 200)} (ngrok-aig-model), not ${requested}`;
  if (answered && !sameModel(requested, answered)) return `answered by ${answered.slice(0, 200)}, not ${requested}`;
  return undefined;
}

/** A HeaderLookup over node:http / undici response headers. */
export function headerLookup(headers: Record<string, string | string[] | undefined>): HeaderLookup {
  return (name) => {
    const v = headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
}

/**
 * The first `"model": "…"` in a response text (a JSON body's top-level model comes before any nested
 * one in every OpenAI-compatible gateway's output; an SSE stream's first chunk carries it too).
 */
export function modelInText(text: string): string | undefined {
  const m = /"model"\s*:\s*"((?:[^"\\]|\\.){0,512})"/.exec(text);
  if (!m) return undefined;
  try {
    return JSON.parse(`"${m[1]}"`) as string;
  } catch {
    return undefined;
  }
}
