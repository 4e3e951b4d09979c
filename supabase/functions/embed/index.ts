/**
 * Entry point for the Supabase Edge Runtime: gte-small embeddings (384 dimensions) for signed-in
 * users. The behaviour lives in handler.ts (HTTP) and jwt.ts (token verification); see those.
 *
 * Environment: SUPABASE_URL (set by the runtime; JWKS for RS256/ES256 tokens) and/or
 * SUPABASE_JWT_SECRET / JWT_SECRET (HS256). Deployed with `verify_jwt = false` in config.toml:
 * this verification is the only one (supabase/config.toml says why).
 */

import { createHandler, type EmbeddingSession } from "./handler.ts";
import { verifierFromEnv } from "./jwt.ts";

// `Supabase` is a global of the Supabase Edge Runtime only (its full typings come from
// jsr:@supabase/functions-js/edge-runtime.d.ts, which cannot be fetched here). This module-local
// ambient declaration is the minimum this file uses, so `deno check index.ts` passes under the
// plain Deno CLI too; it emits no code, so at run time the runtime's global is used.
declare const Supabase: {
  readonly ai: {
    readonly Session: new (model: string) => EmbeddingSession;
  };
};

const session = new Supabase.ai.Session("gte-small");

Deno.serve(createHandler({ session, verifyToken: verifierFromEnv() }));
