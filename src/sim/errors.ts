// OpenAI-style error bodies.

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export function errorBody(message: string, type: string, code: string | null, param: string | null = null): OpenAIErrorBody {
  return { error: { message, type, param, code } };
}

/** Mask a key like OpenAI does: keep a short prefix and the last 4 characters; short keys are fully masked. */
export function maskKey(key: string): string {
  if (key.length < 12) return '*'.repeat(key.length);
  return `${key.slice(0, 3)}${'*'.repeat(key.length - 7)}${key.slice(-4)}`;
}

export function invalidApiKey(key: string | undefined): OpenAIErrorBody {
  if (!key) {
    return errorBody(
      "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
      'invalid_request_error',
      'invalid_api_key',
    );
  }
  return errorBody(`Incorrect API key provided: ${maskKey(key)}.`, 'invalid_request_error', 'invalid_api_key');
}

export function modelNotFound(model: string): OpenAIErrorBody {
  return errorBody(`The model \`${model}\` does not exist or you do not have access to it.`, 'invalid_request_error', 'model_not_found');
}

export function rateLimited(model: string, rpm: number, retryAfterMs: number): OpenAIErrorBody {
  return errorBody(
    `Rate limit reached for ${model} on requests per min (RPM): Limit ${rpm}. Please try again in ${Math.ceil(retryAfterMs)}ms.`,
    'requests',
    'rate_limit_exceeded',
  );
}

export function serverError(status: 500 | 503): OpenAIErrorBody {
  return status === 500
    ? errorBody('The server had an error while processing your request. Sorry about that!', 'server_error', null)
    : errorBody('The engine is currently overloaded, please try again later.', 'server_error', 'service_unavailable');
}

export function badRequest(message: string, param: string | null = null): OpenAIErrorBody {
  return errorBody(message, 'invalid_request_error', null, param);
}
