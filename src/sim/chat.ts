// POST /v1/chat/completions: fault decision, then a JSON or SSE answer.
import type { ServerResponse } from 'node:http';
import { z } from 'zod';
import { drawOutput, isJudgeCall, judgeAnswer, modelAnswer, type OutputDraws, type SimAnswer } from './behaviour';
import { badRequest, modelNotFound, rateLimited, serverError } from './errors';
import { sendJson } from './http';
import type { Distribution, FaultProfile } from './profiles';
import { lognormalFromQuantiles, type Rng } from '../stats/rng';
import type { ModelRegistry } from './state';
import { countPromptTokens } from './tokens';

export interface ChatContext {
  registry: ModelRegistry;
  latencyScale: number;
  nextId(): string;
  /** Run `fn` after `ms` unless the response closes first; ms <= 0 runs it now. */
  later(res: ServerResponse, ms: number, fn: () => void): void;
  /** Keep the response open without answering (ended by the client or by close()). */
  hang(res: ServerResponse): void;
}

const MessageSchema = z.looseObject({
  role: z.string({ error: 'expected a string' }),
  content: z.union([z.string(), z.array(z.unknown()), z.null()], { error: 'expected a string or an array of content parts' }).optional(),
});
const positiveInt = z.number().int().positive({ error: 'expected a positive integer' }).nullish();

const ChatRequestSchema = z.looseObject({
  model: z.string({ error: 'you must provide a model parameter' }).min(1, { error: 'you must provide a model parameter' }),
  messages: z.array(MessageSchema, { error: 'expected an array of messages' }).min(1, { error: 'expected a non-empty array' }),
  stream: z.boolean({ error: 'expected a boolean' }).nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
  max_tokens: positiveInt,
  max_completion_tokens: positiveInt,
  response_format: z.looseObject({ type: z.string() }).nullish(),
  tools: z.array(z.unknown(), { error: 'expected an array of tools' }).nullish(),
  tool_choice: z.unknown().optional(),
});

export type Outcome = 'ok' | 'serverError' | 'rateLimited' | 'timeout' | 'malformed';

function sample(rng: Rng, d: Distribution): number {
  return typeof d === 'number' ? d : lognormalFromQuantiles(rng, d.p50, d.p99);
}

/** Handles a parsed JSON body; returns the outcome for logging (or the HTTP status for early rejects). */
export function handleChat(ctx: ChatContext, res: ServerResponse, raw: unknown, apiKey?: string): Outcome | number {
  const parsed = ChatRequestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const param = issue.path.map(String).join('.') || null;
    sendJson(res, 400, badRequest(`Invalid value for '${param ?? 'body'}': ${issue.message}.`, param));
    return 400;
  }
  const body = parsed.data;
  const state = ctx.registry.get(body.model);
  if (!state) {
    sendJson(res, 404, modelNotFound(body.model));
    return 404;
  }
  const { profile, stats } = state;
  stats.requests++;
  if (body.stream) stats.streamed++;

  const rlHeaders: Record<string, string> = {};
  if (state.bucket) {
    const waitMs = state.bucket.take();
    rlHeaders['x-ratelimit-limit-requests'] = String(state.bucket.rpm);
    rlHeaders['x-ratelimit-remaining-requests'] = String(state.bucket.remaining());
    if (waitMs > 0) {
      stats.rateLimited++;
      sendJson(res, 429, rateLimited(body.model, state.bucket.rpm, waitMs), {
        ...rlHeaders,
        'retry-after': String(Math.max(1, Math.ceil(waitMs / 1000))),
        'retry-after-ms': String(Math.ceil(waitMs)),
        'x-ratelimit-reset-requests': `${Math.ceil(waitMs)}ms`,
      });
      return 'rateLimited';
    }
  }

  // Fixed draw order per accepted request keeps seeded runs reproducible.
  const rng = state.rng;
  const u = rng();
  const which = rng();
  const latency = sample(rng, profile.latencyMs) * ctx.latencyScale;
  const drawnTokens = Math.max(1, Math.round(sample(rng, profile.completionTokens)));
  const draws = drawOutput(state.outputRng);

  if (u < profile.errorRate) {
    stats.serverError++;
    const status = which < 0.5 ? 500 : 503;
    const body5xx = serverError(status);
    // A badly behaved gateway that quotes the caller's credentials in its error text (seen in the wild).
    if (profile.quotesKeyInErrors && apiKey) body5xx.error.message += ` (request with Authorization: Bearer ${apiKey})`;
    ctx.later(res, latency, () => sendJson(res, status, body5xx, rlHeaders));
    return 'serverError';
  }
  if (u < profile.errorRate + profile.timeoutRate) {
    stats.timeout++;
    ctx.hang(res);
    return 'timeout';
  }
  const malformed = u < profile.errorRate + profile.timeoutRate + profile.malformedRate;
  if (malformed) stats.malformed++;
  else stats.ok++;

  const id = ctx.nextId();
  const gen = answerFor(body, id, drawnTokens, profile, draws);
  const promptTokens = countPromptTokens(body.messages);
  const created = Math.floor(Date.now() / 1000);
  const headers: Record<string, string> = {
    ...rlHeaders,
    'x-request-id': `req_${id}`,
    'openai-processing-ms': String(Math.round(latency)),
  };
  // A gateway that answered with another model (a fallback), saying so in LiteLLM's header or not at all.
  if (profile.fallbackHeader) headers['x-litellm-attempted-fallbacks'] = '1';
  const answeredModel = profile.substituteModel ?? body.model;

  if (body.stream) {
    streamAnswer(ctx, res, {
      id,
      created,
      model: answeredModel,
      gen,
      promptTokens,
      latency,
      malformed,
      headers,
      includeUsage: body.stream_options?.include_usage === true,
    });
    return malformed ? 'malformed' : 'ok';
  }
  ctx.later(res, latency, () => {
    if (malformed) {
      const text = `{"id":"chatcmpl-${id}","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"trunc`;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
      res.end(text);
      return;
    }
    sendJson(res, 200, completionBody(id, created, answeredModel, gen, promptTokens), headers);
  });
  return malformed ? 'malformed' : 'ok';
}

type ChatBody = z.infer<typeof ChatRequestSchema>;

/** The answer's content under the model's output behaviours: the judge's verdict for a judge call, else the model's answer. */
function answerFor(body: ChatBody, id: string, drawnTokens: number, profile: FaultProfile, draws: OutputDraws): SimAnswer {
  if (isJudgeCall(body.messages)) return judgeAnswer(body.messages, profile, draws);
  const request = {
    model: body.model,
    messages: body.messages,
    drawnTokens,
    maxTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
    responseFormat: body.response_format,
    tools: body.tools,
    toolChoice: body.tool_choice,
    id,
  };
  return modelAnswer(request, profile, draws, profile.outputOverride);
}

function usage(promptTokens: number, gen: SimAnswer) {
  return { prompt_tokens: promptTokens, completion_tokens: gen.completionTokens, total_tokens: promptTokens + gen.completionTokens };
}

function completionBody(id: string, created: number, model: string, gen: SimAnswer, promptTokens: number) {
  const message: Record<string, unknown> = { role: 'assistant', content: gen.content, refusal: gen.refusal };
  if (gen.toolCalls.length)
    message.tool_calls = gen.toolCalls.map((t) => ({ id: t.id, type: 'function', function: { name: t.name, arguments: t.arguments } }));
  return {
    id: `chatcmpl-${id}`,
    object: 'chat.completion',
    created,
    model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: gen.finishReason }],
    usage: usage(promptTokens, gen),
    system_fingerprint: 'fp_modelshift_sim',
  };
}

/** A text cut into 2–16 pieces of about 24 characters (the deltas of a stream). */
function pieces(text: string): string[] {
  const n = Math.min(16, Math.max(2, Math.ceil(text.length / 24)));
  const size = Math.max(1, Math.ceil(text.length / n));
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

/** The deltas of an answer after the role chunk: content, a refusal, or tool calls (name first, arguments in pieces). */
function answerDeltas(gen: SimAnswer): object[] {
  if (gen.toolCalls.length)
    return gen.toolCalls.flatMap((t, index) => [
      { tool_calls: [{ index, id: t.id, type: 'function', function: { name: t.name, arguments: '' } }] },
      ...pieces(t.arguments).map((p) => ({ tool_calls: [{ index, function: { arguments: p } }] })),
    ]);
  if (gen.refusal !== null) return pieces(gen.refusal).map((p) => ({ refusal: p }));
  return pieces(gen.content ?? '').map((p) => ({ content: p }));
}

interface StreamPlan {
  id: string;
  created: number;
  model: string;
  gen: SimAnswer;
  promptTokens: number;
  latency: number;
  malformed: boolean;
  includeUsage: boolean;
  headers: Record<string, string>;
}

/** SSE: role chunk at ~25% of the latency (time to first token), content chunks spread until the full latency. */
function streamAnswer(ctx: ChatContext, res: ServerResponse, p: StreamPlan): void {
  const base = {
    id: `chatcmpl-${p.id}`,
    object: 'chat.completion.chunk',
    created: p.created,
    model: p.model,
    system_fingerprint: 'fp_modelshift_sim',
  };
  const extra = p.includeUsage ? { usage: null } : {};
  const chunk = (delta: object, finish: string | null) =>
    `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...extra })}\n\n`;

  const events: string[] = [chunk({ role: 'assistant', content: p.gen.toolCalls.length ? null : '', refusal: null }, null)];
  if (p.malformed) {
    events.push(`data: {"id":"chatcmpl-${p.id}","object":"chat.completion.chunk","choices":[{"delta":{"content":"trunc\n\n`);
  } else {
    for (const delta of answerDeltas(p.gen)) events.push(chunk(delta, null));
    events.push(chunk({}, p.gen.finishReason));
    if (p.includeUsage) events.push(`data: ${JSON.stringify({ ...base, choices: [], usage: usage(p.promptTokens, p.gen) })}\n\n`);
    events.push('data: [DONE]\n\n');
  }

  const start = () => {
    if (res.writableEnded || res.destroyed) return;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      ...p.headers,
    });
  };
  if (p.latency <= 0) {
    start();
    res.end(events.join(''));
    return;
  }
  const ttft = p.latency * 0.25;
  const step = (p.latency - ttft) / Math.max(1, events.length - 1);
  let i = 0;
  const next = () => {
    if (res.writableEnded || res.destroyed) return;
    if (i === 0) start();
    res.write(events[i++]);
    if (i >= events.length) res.end();
    else ctx.later(res, step, next);
  };
  ctx.later(res, ttft, next);
}
