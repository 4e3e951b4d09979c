/**
 * The `embed` Edge Function as a plain `(Request) => Promise<Response>`, with its model session
 * and token verifier injected, so it can be tested without the Supabase Edge Runtime.
 *
 *   POST /functions/v1/embed
 *   Authorization: Bearer <access token of a signed-in user>
 *   Content-Type: application/json
 *   {"input": "text" | ["text", ...]}
 *
 *   200 {"model": "gte-small", "dimensions": 384, "data": [{"index": 0, "embedding": [...]}, ...]}
 *
 * Errors are JSON `{"error": "<message>", "code": "<code>"}`:
 *   400 invalid_request, 401 invalid_token, 403 insufficient_role, 405 method_not_allowed,
 *   413 payload_too_large, 415 unsupported_media_type, 503 model_unavailable / auth_unavailable.
 * Neither the token nor the input text is ever echoed in a response or written to the log.
 */

import { type JwtClaims, JwtError } from "./jwt.ts";

export const MODEL = "gte-small";
export const DIMENSIONS = 384;
export const DEFAULT_MAX_INPUTS = 64;
export const DEFAULT_MAX_INPUT_CHARS = 8000;
/** Enough for 64 inputs of 8000 characters even if every character is JSON-escaped (\uXXXX). */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface RunOptions {
  mean_pool: boolean;
  normalize: boolean;
}

/**
 * The part of Supabase's `new Supabase.ai.Session('gte-small')` this function uses. The result is
 * typed `unknown` on purpose: it is validated (384 finite numbers) before it is returned.
 */
export interface EmbeddingSession {
  run(text: string, options: RunOptions): Promise<unknown>;
}

export interface HandlerOptions {
  session: EmbeddingSession;
  /** Resolves to the verified claims of a bearer token, throws when it is not acceptable. */
  verifyToken: (token: string) => Promise<JwtClaims>;
  /** Most inputs per request. Default 64. */
  maxInputs?: number;
  /** Most characters (UTF-16 code units) per input. Default 8000. */
  maxInputChars?: number;
  /** Largest request body in bytes. Default 4 MiB. */
  maxBodyBytes?: number;
}

const CORS_HEADERS: Record<string, string> = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Expose-Headers": "WWW-Authenticate, Retry-After",
};

const PREFLIGHT_HEADERS: Record<string, string> = {
  ...CORS_HEADERS,
  "Access-Control-Allow-Methods": "POST, OPTIONS",
  "Access-Control-Allow-Headers": "authorization, apikey, content-type, x-client-info",
  "Access-Control-Max-Age": "86400",
};

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      ...CORS_HEADERS,
      "Content-Type": "application/json; charset=utf-8",
      "Cache-Control": "no-store",
      ...headers,
    },
  });
}

function error(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return json(status, { error: message, code }, headers);
}

/** A client error found while reading the request; turned into a response by the handler. */
class RequestError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

function positiveInteger(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new TypeError(`${name} must be a positive integer`);
  }
  return value;
}

/** The token of an `Authorization: Bearer <token>` header, or null when there is none. */
function bearerToken(req: Request): string | null {
  const header = req.headers.get("authorization");
  if (header === null) return null;
  const match = /^Bearer[ \t]+([^ \t]+)[ \t]*$/i.exec(header.trim());
  return match ? match[1] : null;
}

function isJsonContentType(value: string | null): boolean {
  if (value === null) return false;
  const mediaType = value.split(";", 1)[0].trim().toLowerCase();
  return mediaType === "application/json";
}

/** Reads the body, refusing (413) more than `maxBytes` whatever Content-Length claims. */
async function readBody(req: Request, maxBytes: number): Promise<Uint8Array> {
  const tooLarge = () =>
    new RequestError(413, "payload_too_large", `request body is larger than ${maxBytes} bytes`);
  const declared = req.headers.get("content-length");
  if (declared !== null && /^\d+$/.test(declared.trim()) && Number(declared) > maxBytes) {
    await req.body?.cancel();
    throw tooLarge();
  }
  if (req.body === null) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

/** Parses and validates `{"input": string | string[]}`; returns the texts in order. */
function parseInputs(body: Uint8Array, maxInputs: number, maxChars: number): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    throw new RequestError(400, "invalid_request", "request body is not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new RequestError(400, "invalid_request", "request body must be a JSON object");
  }
  const input = (parsed as Record<string, unknown>).input;
  if (input === undefined || input === null) {
    throw new RequestError(400, "invalid_request", "input is required");
  }

  let items: unknown[];
  let name: (i: number) => string;
  if (typeof input === "string") {
    items = [input];
    name = () => "input";
  } else if (Array.isArray(input)) {
    if (input.length === 0) {
      throw new RequestError(400, "invalid_request", "input must not be an empty array");
    }
    if (input.length > maxInputs) {
      throw new RequestError(
        413,
        "payload_too_large",
        `input has ${input.length} items; at most ${maxInputs} are allowed per request`,
      );
    }
    items = input;
    name = (i) => `input[${i}]`;
  } else {
    throw new RequestError(
      400,
      "invalid_request",
      "input must be a non-empty string or an array of non-empty strings",
    );
  }

  return items.map((item, i) => {
    if (typeof item !== "string" || item.trim() === "") {
      throw new RequestError(400, "invalid_request", `${name(i)} must be a non-empty string`);
    }
    if (item.length > maxChars) {
      throw new RequestError(
        413,
        "payload_too_large",
        `${name(i)} is longer than the limit of ${maxChars} characters`,
      );
    }
    return item;
  });
}

/** The embedding as plain numbers, or null unless it is exactly DIMENSIONS finite numbers. */
function validEmbedding(value: unknown): number[] | null {
  let values: ArrayLike<unknown>;
  if (Array.isArray(value)) values = value;
  else if (value instanceof Float32Array || value instanceof Float64Array) values = value;
  else return null;
  if (values.length !== DIMENSIONS) return null;
  const embedding = new Array<number>(DIMENSIONS);
  for (let i = 0; i < DIMENSIONS; i++) {
    const x = values[i];
    if (typeof x !== "number" || !Number.isFinite(x)) return null;
    embedding[i] = x;
  }
  return embedding;
}

function modelUnavailable(): Response {
  return error(503, "model_unavailable", "embedding model unavailable", { "Retry-After": "5" });
}

function invalidToken(message: string): Response {
  return error(401, "invalid_token", message, {
    "WWW-Authenticate": 'Bearer error="invalid_token"',
  });
}

function insufficientRole(): Response {
  return error(403, "insufficient_role", "only signed-in users may call this function", {
    "WWW-Authenticate": 'Bearer error="insufficient_scope"',
  });
}

export function createHandler(options: HandlerOptions): (req: Request) => Promise<Response> {
  const { session, verifyToken } = options;
  const maxInputs = positiveInteger(options.maxInputs, DEFAULT_MAX_INPUTS, "maxInputs");
  const maxChars = positiveInteger(options.maxInputChars, DEFAULT_MAX_INPUT_CHARS, "maxInputChars");
  const maxBodyBytes = positiveInteger(
    options.maxBodyBytes,
    DEFAULT_MAX_BODY_BYTES,
    "maxBodyBytes",
  );

  /** null when the caller is a signed-in user, else the response refusing them. */
  async function authenticate(req: Request): Promise<Response | null> {
    const token = bearerToken(req);
    if (token === null) {
      return invalidToken("missing bearer token: send Authorization: Bearer <access token>");
    }
    let claims: JwtClaims;
    try {
      claims = await verifyToken(token);
    } catch (err) {
      if (err instanceof JwtError) {
        if (err.code === "jwks_unavailable") {
          return error(503, "auth_unavailable", "token verification is unavailable", {
            "Retry-After": "5",
          });
        }
        // Authentic and current, just not a user access token (anon / service_role API keys).
        if (err.code === "invalid_audience" && err.verifiedClaims?.role !== "authenticated") {
          return insufficientRole();
        }
        if (err.code === "expired") return invalidToken("token has expired");
      }
      return invalidToken("invalid token");
    }
    if (claims.role !== "authenticated") return insufficientRole();
    return null;
  }

  async function embed(texts: string[]): Promise<Response> {
    const data: { index: number; embedding: number[] }[] = [];
    // One at a time: the session runs on the worker's CPU, parallel runs only add memory.
    for (let index = 0; index < texts.length; index++) {
      let result: unknown;
      try {
        result = await session.run(texts[index], { mean_pool: true, normalize: true });
      } catch (err) {
        // Only the error's type: a model error message could quote the input.
        console.error("embed: model session failed", {
          index,
          inputs: texts.length,
          error: err instanceof Error ? err.name : typeof err,
        });
        return modelUnavailable();
      }
      const embedding = validEmbedding(result);
      if (embedding === null) {
        console.error("embed: model session returned an invalid embedding", {
          index,
          inputs: texts.length,
          type: Array.isArray(result) ? "array" : typeof result,
          length: (result as { length?: unknown } | null)?.length ?? null,
        });
        return modelUnavailable();
      }
      data.push({ index, embedding });
    }
    return json(200, { model: MODEL, dimensions: DIMENSIONS, data });
  }

  return async (req: Request): Promise<Response> => {
    try {
      if (req.method === "OPTIONS") {
        return new Response(null, { status: 204, headers: PREFLIGHT_HEADERS });
      }
      if (req.method !== "POST") {
        await req.body?.cancel();
        return error(405, "method_not_allowed", `method ${req.method} is not allowed; use POST`, {
          Allow: "POST, OPTIONS",
        });
      }

      const refused = await authenticate(req);
      if (refused) {
        await req.body?.cancel();
        return refused;
      }

      if (!isJsonContentType(req.headers.get("content-type"))) {
        await req.body?.cancel();
        return error(415, "unsupported_media_type", "Content-Type must be application/json");
      }

      let texts: string[];
      try {
        texts = parseInputs(await readBody(req, maxBodyBytes), maxInputs, maxChars);
      } catch (err) {
        if (err instanceof RequestError) return error(err.status, err.code, err.message);
        throw err;
      }
      return await embed(texts);
    } catch (err) {
      console.error("embed: unexpected error", err instanceof Error ? err.name : typeof err);
      return error(500, "internal_error", "internal error");
    }
  };
}
