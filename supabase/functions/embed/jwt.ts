/**
 * Verification of Supabase Auth access tokens (JWS compact JWTs) with WebCrypto only.
 *
 * Supported:
 *   - HS256 with the project's shared JWT secret (legacy Supabase projects, the local stack);
 *   - RS256 and ES256 with the public keys Supabase Auth publishes at
 *     `<SUPABASE_URL>/auth/v1/.well-known/jwks.json` (asymmetric signing keys).
 *
 * Rules that keep the classic JWT attacks out:
 *   - the algorithm is never negotiated by the token: `alg: none` and every algorithm other than
 *     HS256/RS256/ES256 are rejected;
 *   - an HS256 token is only ever checked with the shared secret, never with a JWKS key, so a token
 *     HMAC-signed with a (public) key cannot pass; symmetric (`oct`) keys in a JWKS are ignored;
 *   - a JWKS key is only used for the algorithm its own `kty`/`crv`/`alg` say it is for;
 *   - `exp` is required (at most 30 s clock leeway), `nbf` is honoured, `aud` is required and must
 *     be "authenticated" (the audience Supabase Auth puts in user access tokens), `crit` headers
 *     are rejected.
 *
 * Everything is a pure function of its inputs (secret, JWKS URL, fetch function, clock), so tests
 * build verifiers without environment variables or network; `verifierFromEnv` is the only place
 * that reads the environment. Error messages never contain the token or parts of it.
 */

/** Verified JWT claims. */
export type JwtClaims = Record<string, unknown>;

/** Verifies a bearer token; resolves to its claims or throws (a `JwtError` for bad tokens). */
export type TokenVerifier = (token: string) => Promise<JwtClaims>;

/** The subset of `fetch` the JWKS cache needs (inject a fake one in tests). */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export type JwtErrorCode =
  | "malformed"
  | "unsupported_algorithm"
  | "unknown_key"
  | "bad_signature"
  | "expired"
  | "not_yet_valid"
  | "missing_claim"
  | "invalid_audience"
  | "jwks_unavailable";

/**
 * Why a token was refused. `verifiedClaims` is set only for `invalid_audience`, i.e. when the
 * signature and the time window were valid and only the audience was wrong (Supabase's anon and
 * service_role API keys carry no `aud`): callers may then answer 403 instead of 401.
 */
export class JwtError extends Error {
  override name = "JwtError";
  readonly code: JwtErrorCode;
  readonly verifiedClaims?: JwtClaims;

  constructor(code: JwtErrorCode, message: string, verifiedClaims?: JwtClaims) {
    super(message);
    this.code = code;
    this.verifiedClaims = verifiedClaims;
  }
}

/** The audience Supabase Auth issues user access tokens for. */
export const AUTHENTICATED_AUDIENCE = "authenticated";
/** The largest clock skew tolerated on `exp` / `nbf`, in seconds. */
export const MAX_LEEWAY_SECONDS = 30;
/** An unknown `kid` refetches the JWKS at most this often. */
export const JWKS_MIN_REFETCH_INTERVAL_MS = 60_000;
/** Known keys are refreshed after this long, so rotated-out keys stop being accepted. */
export const JWKS_MAX_AGE_MS = 10 * 60_000;
/** Tokens longer than this are refused before any parsing. */
export const MAX_TOKEN_LENGTH = 16 * 1024;

const JWKS_FETCH_TIMEOUT_MS = 5_000;
const JWKS_NO_KEYS_RETRY_MS = 5_000;
const MIN_HS256_SECRET_BYTES = 32; // RFC 7518 §3.2: the key must be at least as long as the hash
const MIN_RSA_MODULUS_BYTES = 256; // 2048 bits

type AsymmetricAlg = "RS256" | "ES256";

// ---------------------------------------------------------------------------------------------
// Encoding helpers

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Decodes unpadded base64url (RFC 7515 §2); throws `JwtError("malformed")` on anything else. */
export function base64UrlDecode(text: string): Uint8Array<ArrayBuffer> {
  if (!BASE64URL.test(text) || text.length % 4 === 1) {
    throw new JwtError("malformed", "malformed token: bad base64url");
  }
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/") +
    "=".repeat((4 - (text.length % 4)) % 4);
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Encodes bytes (or a string, as UTF-8) as unpadded base64url. */
export function base64UrlEncode(data: Uint8Array | string): string {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function decodeJsonSegment(segment: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(base64UrlDecode(segment)));
  } catch {
    throw new JwtError("malformed", `malformed token: ${what} is not base64url JSON`);
  }
  if (!isPlainObject(value)) {
    throw new JwtError("malformed", `malformed token: ${what} is not a JSON object`);
  }
  return value;
}

/** A JWS compact token split into its parts. Nothing here is verified yet. */
export interface DecodedJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  /** ASCII bytes of `<header>.<payload>`: what the signature covers. */
  signingInput: Uint8Array<ArrayBuffer>;
  signature: Uint8Array<ArrayBuffer>;
}

/** Splits and decodes a token without verifying it. Throws `JwtError("malformed")`. */
export function decodeJwt(token: string): DecodedJwt {
  if (typeof token !== "string" || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
    throw new JwtError("malformed", "malformed token");
  }
  const parts = token.split(".");
  if (parts.length !== 3) {
    throw new JwtError("malformed", "malformed token: expected three dot-separated parts");
  }
  const [headerPart, payloadPart, signaturePart] = parts;
  const header = decodeJsonSegment(headerPart, "header");
  const payload = decodeJsonSegment(payloadPart, "payload");
  return {
    header,
    payload,
    signingInput: new TextEncoder().encode(`${headerPart}.${payloadPart}`),
    signature: base64UrlDecode(signaturePart),
  };
}

// ---------------------------------------------------------------------------------------------
// Claims

export interface ClaimChecks {
  /** Current time in seconds since the epoch. */
  nowSeconds: number;
  /** Clock leeway in seconds, clamped to [0, MAX_LEEWAY_SECONDS]. Default MAX_LEEWAY_SECONDS. */
  leewaySeconds?: number;
  /** Required audience. Default "authenticated". */
  audience?: string;
}

function clampLeeway(leeway: number | undefined): number {
  if (leeway === undefined || !Number.isFinite(leeway)) return MAX_LEEWAY_SECONDS;
  return Math.min(Math.max(leeway, 0), MAX_LEEWAY_SECONDS);
}

/**
 * Checks `exp` (required), `nbf` (if present) and `aud` (required) of claims whose signature was
 * already verified. Returns the claims or throws `JwtError`.
 */
export function checkClaims(payload: Record<string, unknown>, checks: ClaimChecks): JwtClaims {
  const leeway = clampLeeway(checks.leewaySeconds);
  const audience = checks.audience ?? AUTHENTICATED_AUDIENCE;
  const now = checks.nowSeconds;

  const exp = payload.exp;
  if (exp === undefined) throw new JwtError("missing_claim", "token has no exp claim");
  if (typeof exp !== "number" || !Number.isFinite(exp)) {
    throw new JwtError("malformed", "token exp claim is not a number");
  }
  if (now >= exp + leeway) throw new JwtError("expired", "token has expired");

  const nbf = payload.nbf;
  if (nbf !== undefined) {
    if (typeof nbf !== "number" || !Number.isFinite(nbf)) {
      throw new JwtError("malformed", "token nbf claim is not a number");
    }
    if (now + leeway < nbf) throw new JwtError("not_yet_valid", "token is not valid yet");
  }

  const aud = payload.aud;
  const audienceOk = typeof aud === "string"
    ? aud === audience
    : Array.isArray(aud) && aud.includes(audience);
  if (!audienceOk) {
    // Signature and time window are fine: hand the claims back so the caller can tell a real
    // API key (anon / service_role: no aud) from a forgery.
    throw new JwtError("invalid_audience", "token audience is not accepted", payload);
  }
  return payload;
}

// ---------------------------------------------------------------------------------------------
// Keys

function assertHs256SecretLength(secret: string): void {
  if (new TextEncoder().encode(secret).byteLength < MIN_HS256_SECRET_BYTES) {
    throw new Error(`the HS256 JWT secret must be at least ${MIN_HS256_SECRET_BYTES} bytes long`);
  }
}

/** Imports a shared secret (used as its UTF-8 bytes, as Supabase Auth does) for HS256. */
export async function importHs256Secret(secret: string): Promise<CryptoKey> {
  assertHs256SecretLength(secret);
  const bytes = new TextEncoder().encode(secret);
  return await crypto.subtle.importKey("raw", bytes, { name: "HMAC", hash: "SHA-256" }, false, [
    "verify",
  ]);
}

/** A verification key taken from a JWKS, bound to the one algorithm it may be used with. */
export interface JwksKey {
  kid?: string;
  alg: AsymmetricAlg;
  key: CryptoKey;
}

/**
 * Turns one JWKS entry into a verification key, or returns null when it is not a usable public
 * RS256/ES256 signing key (symmetric keys, encryption keys, other curves, short RSA moduli...).
 * Only the public members are imported, whatever else the entry carries.
 */
export async function importJwk(jwk: unknown): Promise<JwksKey | null> {
  if (!isPlainObject(jwk)) return null;
  const { kty, alg, use, key_ops: keyOps, kid } = jwk;
  if (use !== undefined && use !== "sig") return null;
  if (keyOps !== undefined && !(Array.isArray(keyOps) && keyOps.includes("verify"))) return null;
  if (kid !== undefined && typeof kid !== "string") return null;

  try {
    if (kty === "RSA" && (alg === undefined || alg === "RS256")) {
      const { n, e } = jwk;
      if (typeof n !== "string" || typeof e !== "string") return null;
      if (base64UrlDecode(n).byteLength < MIN_RSA_MODULUS_BYTES) return null;
      const key = await crypto.subtle.importKey(
        "jwk",
        { kty: "RSA", n, e, alg: "RS256", ext: true },
        { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
        false,
        ["verify"],
      );
      return { kid, alg: "RS256", key };
    }
    if (kty === "EC" && jwk.crv === "P-256" && (alg === undefined || alg === "ES256")) {
      const { x, y } = jwk;
      if (typeof x !== "string" || typeof y !== "string") return null;
      // P-256 coordinates are exactly 32 bytes (WebCrypto implementations differ in checking).
      if (base64UrlDecode(x).byteLength !== 32 || base64UrlDecode(y).byteLength !== 32) return null;
      const key = await crypto.subtle.importKey(
        "jwk",
        { kty: "EC", crv: "P-256", x, y, ext: true },
        { name: "ECDSA", namedCurve: "P-256" },
        false,
        ["verify"],
      );
      return { kid, alg: "ES256", key };
    }
  } catch {
    return null; // malformed key material: skip the key, keep the others
  }
  return null;
}

/** Imports every usable key of a JWKS document (`{"keys": [...]}`). */
export async function importJwks(jwks: unknown): Promise<JwksKey[]> {
  if (!isPlainObject(jwks) || !Array.isArray(jwks.keys)) {
    throw new Error("JWKS document has no keys array");
  }
  const keys = await Promise.all(jwks.keys.map(importJwk));
  return keys.filter((key): key is JwksKey => key !== null);
}

export interface JwksCacheOptions {
  /** Where the JWKS lives, e.g. `https://<ref>.supabase.co/auth/v1/.well-known/jwks.json`. */
  url: string;
  fetch?: FetchLike;
  /** Milliseconds since the epoch. Default `Date.now`. */
  now?: () => number;
  /** Minimum time between two fetches caused by unknown `kid`s. Default 60 s. */
  minRefetchIntervalMs?: number;
  /** Known keys are refetched after this long. Default 10 min. */
  maxAgeMs?: number;
}

/** Finds JWKS keys by `kid` and algorithm, fetching and refetching the JWKS as needed. */
export interface JwksCache {
  /** Keys that may verify a token with this `alg` (and `kid`, when the token names one). */
  find(alg: AsymmetricAlg, kid: string | undefined): Promise<JwksKey[]>;
  /** Number of fetch attempts so far (for tests and diagnostics). */
  readonly fetchCount: number;
}

/**
 * A JWKS cache. The JWKS is fetched on first use, refreshed when older than `maxAgeMs`, and
 * refetched when a token names an unknown `kid` -- but never more than once per
 * `minRefetchIntervalMs`, so a stream of tokens with made-up `kid`s cannot hammer Supabase Auth.
 * When a refresh fails the previous keys stay in use; while there are none, requests fail with
 * `JwtError("jwks_unavailable")` and the fetch is retried at most every 5 s.
 */
export function createJwksCache(options: JwksCacheOptions): JwksCache {
  const fetchFn: FetchLike = options.fetch ?? ((input, init) => fetch(input, init));
  const now = options.now ?? Date.now;
  const minInterval = options.minRefetchIntervalMs ?? JWKS_MIN_REFETCH_INTERVAL_MS;
  const maxAge = options.maxAgeMs ?? JWKS_MAX_AGE_MS;

  let keys: JwksKey[] | null = null;
  let fetchedAt = -Infinity; // last successful fetch
  let attemptedAt = -Infinity; // last fetch attempt, successful or not
  let inflight: Promise<void> | null = null;
  let fetchCount = 0;

  async function load(): Promise<void> {
    fetchCount++;
    attemptedAt = now();
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), JWKS_FETCH_TIMEOUT_MS);
    try {
      let response: Response;
      try {
        response = await fetchFn(options.url, {
          headers: { accept: "application/json" },
          signal: controller.signal,
        });
      } catch (error) {
        throw new Error(`JWKS fetch failed: ${error instanceof Error ? error.name : "error"}`);
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw new Error(`JWKS fetch failed: HTTP ${response.status}`);
      }
      keys = await importJwks(await response.json());
      fetchedAt = now();
    } finally {
      clearTimeout(timer);
    }
  }

  function refresh(): Promise<void> {
    inflight ??= load().finally(() => {
      inflight = null;
    });
    return inflight;
  }

  function matching(alg: AsymmetricAlg, kid: string | undefined): JwksKey[] {
    return (keys ?? []).filter((k) => k.alg === alg && (kid === undefined || k.kid === kid));
  }

  /**
   * Fetches now unless an attempt (good or bad) was made less than `minInterval` ago (or, while
   * no keys were ever fetched, less than a few seconds ago: every request needs them).
   */
  async function refreshIfAllowed(): Promise<void> {
    const interval = keys === null ? Math.min(minInterval, JWKS_NO_KEYS_RETRY_MS) : minInterval;
    if (now() - attemptedAt < interval) return;
    try {
      await refresh();
    } catch (error) {
      // Keep the previous keys (if any); the caller decides what a missing key means.
      console.error("embed: JWKS fetch failed:", error instanceof Error ? error.message : error);
    }
  }

  return {
    get fetchCount() {
      return fetchCount;
    },
    async find(alg, kid) {
      if (inflight) await inflight.catch(() => {});
      if (keys === null || now() - fetchedAt >= maxAge) await refreshIfAllowed();
      if (keys === null) throw new JwtError("jwks_unavailable", "signing keys are unavailable");
      let found = matching(alg, kid);
      if (found.length === 0 && kid !== undefined) {
        // Possibly a key rotated in since the last fetch.
        await refreshIfAllowed();
        found = matching(alg, kid);
      }
      return found;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Verifier

export interface VerifierOptions {
  /** Shared secret for HS256. Without it, HS256 tokens are refused. */
  hs256Secret?: string;
  /** JWKS cache for RS256/ES256 (see `createJwksCache`). Without it, those tokens are refused. */
  jwks?: JwksCache;
  /** Milliseconds since the epoch. Default `Date.now`. */
  now?: () => number;
  /** Clock leeway in seconds, at most 30. Default 30. */
  leewaySeconds?: number;
  /** Required audience. Default "authenticated". */
  audience?: string;
}

/** Builds a token verifier from explicit keys: no environment, no network of its own. */
export function createVerifier(options: VerifierOptions): TokenVerifier {
  const { jwks } = options;
  const now = options.now ?? Date.now;
  const secret = options.hs256Secret;
  if (!secret && !jwks) {
    throw new Error("a JWT verifier needs an HS256 secret, a JWKS, or both");
  }
  if (secret) assertHs256SecretLength(secret); // fail at startup, not on the first request
  let hmacKey: Promise<CryptoKey> | null = null; // imported once, on first use

  return async (token: string): Promise<JwtClaims> => {
    const { header, payload, signingInput, signature } = decodeJwt(token);
    if (header.crit !== undefined) {
      throw new JwtError("unsupported_algorithm", "token uses unsupported critical headers");
    }
    const alg = header.alg;
    const kid = header.kid;
    if (kid !== undefined && typeof kid !== "string") {
      throw new JwtError("malformed", "malformed token: kid is not a string");
    }

    let valid = false;
    if (alg === "HS256") {
      // Only ever the shared secret: never a JWKS key, whatever the kid says.
      if (!secret) throw new JwtError("unsupported_algorithm", "HS256 tokens are not accepted");
      hmacKey ??= importHs256Secret(secret);
      valid = await crypto.subtle.verify("HMAC", await hmacKey, signature, signingInput);
    } else if (alg === "RS256" || alg === "ES256") {
      if (!jwks) throw new JwtError("unsupported_algorithm", `${alg} tokens are not accepted`);
      if (alg === "ES256" && signature.byteLength !== 64) {
        throw new JwtError("bad_signature", "invalid token signature");
      }
      const candidates = await jwks.find(alg, kid);
      if (candidates.length === 0) {
        throw new JwtError("unknown_key", "token is signed with an unknown key");
      }
      const params = alg === "RS256"
        ? { name: "RSASSA-PKCS1-v1_5" }
        : { name: "ECDSA", hash: "SHA-256" };
      for (const candidate of candidates) {
        if (await crypto.subtle.verify(params, candidate.key, signature, signingInput)) {
          valid = true;
          break;
        }
      }
    } else {
      // "none", "HS384", "PS256", a missing alg, ...: never negotiated by the token.
      throw new JwtError("unsupported_algorithm", "token algorithm is not accepted");
    }
    if (!valid) throw new JwtError("bad_signature", "invalid token signature");

    return checkClaims(payload, {
      nowSeconds: now() / 1000,
      leewaySeconds: options.leewaySeconds,
      audience: options.audience,
    });
  };
}

/**
 * Builds the verifier the function runs with, from its environment:
 *   - `SUPABASE_JWT_SECRET`, else `JWT_SECRET`: HS256 shared secret (on the hosted platform,
 *     secrets whose names start with `SUPABASE_` are reserved, so set `JWT_SECRET` there);
 *   - `SUPABASE_URL` (always set by the Edge Runtime): RS256/ES256 keys from
 *     `<SUPABASE_URL>/auth/v1/.well-known/jwks.json`.
 * Either or both may be present; with neither, this throws so the worker fails to boot rather
 * than accepting or refusing everything silently.
 */
export function verifierFromEnv(
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
  fetchFn?: FetchLike,
): TokenVerifier {
  const secret = env("SUPABASE_JWT_SECRET") || env("JWT_SECRET") || undefined;
  const supabaseUrl = env("SUPABASE_URL")?.trim().replace(/\/+$/, "");
  const jwks = supabaseUrl
    ? createJwksCache({ url: `${supabaseUrl}/auth/v1/.well-known/jwks.json`, fetch: fetchFn })
    : undefined;
  if (!secret && !jwks) {
    throw new Error("set SUPABASE_URL (JWKS) and/or SUPABASE_JWT_SECRET / JWT_SECRET (HS256)");
  }
  return createVerifier({ hs256Secret: secret, jwks });
}
