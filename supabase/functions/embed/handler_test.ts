// Tests for handler.ts: every status the function answers, with a fake model session and real
// token verification (tokens signed here with WebCrypto). Offline, no permissions needed.

import assert from "node:assert/strict";
import {
  createHandler,
  DIMENSIONS,
  type EmbeddingSession,
  type HandlerOptions,
  MODEL,
  type RunOptions,
} from "./handler.ts";
import {
  base64UrlEncode,
  createJwksCache,
  createVerifier,
  type FetchLike,
  verifierFromEnv,
} from "./jwt.ts";
import { hmacSign } from "./testing.ts";

const SECRET = "handler-test-secret-with-more-than-32-bytes-0123456789";
const URL_ = "http://localhost:54321/functions/v1/embed";
const nowSeconds = () => Math.floor(Date.now() / 1000);

// ---------------------------------------------------------------------------------------------
// Tokens

function signHs256(claims: Record<string, unknown>, secret = SECRET): Promise<string> {
  return hmacSign(new TextEncoder().encode(secret), { alg: "HS256", typ: "JWT" }, claims);
}

function userClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = nowSeconds();
  return {
    iss: "http://127.0.0.1:54321/auth/v1",
    sub: "2f9d7c1e-3b8a-4f6e-9d2c-1a0b3c4d5e6f",
    aud: "authenticated",
    exp: now + 3600,
    iat: now,
    email: "user@example.com",
    role: "authenticated",
    aal: "aal1",
    session_id: "7e6d5c4b-3a29-4817-9605-f4e3d2c1b0a9",
    is_anonymous: false,
    ...overrides,
  };
}

const userToken = await signHs256(userClaims());

// ---------------------------------------------------------------------------------------------
// A fake model session

/** A deterministic 384-vector for a text: distinct per text so order can be checked. */
function vectorFor(text: string): number[] {
  const v = new Array<number>(DIMENSIONS).fill(0);
  v[0] = text.length;
  v[1] = text.charCodeAt(0);
  return v;
}

class FakeSession implements EmbeddingSession {
  calls: { text: string; options: RunOptions }[] = [];
  constructor(private readonly result: (text: string) => unknown = vectorFor) {}
  run(text: string, options: RunOptions): Promise<unknown> {
    this.calls.push({ text, options });
    try {
      return Promise.resolve(this.result(text));
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

function handlerWith(
  session: EmbeddingSession = new FakeSession(),
  overrides: Partial<HandlerOptions> = {},
) {
  return createHandler({
    session,
    verifyToken: createVerifier({ hs256Secret: SECRET }),
    ...overrides,
  });
}

function post(body: unknown, headers: Record<string, string> = {}): Request {
  return new Request(URL_, {
    method: "POST",
    headers: {
      authorization: `Bearer ${userToken}`,
      "content-type": "application/json",
      ...headers,
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

interface ErrorBody {
  error: string;
  code: string;
}

async function expectError(res: Response, status: number, code: string): Promise<ErrorBody> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  const body = JSON.parse(text) as ErrorBody;
  assert.equal(body.code, code);
  assert.equal(typeof body.error, "string");
  assert.ok(body.error.length > 0);
  return body;
}

/** Runs `fn` with console.error captured (and silenced); returns what was logged. */
async function captureErrors(fn: () => Promise<void>): Promise<string[]> {
  const original = console.error;
  const logged: string[] = [];
  console.error = (...args: unknown[]) => {
    logged.push(args.map((a) => typeof a === "string" ? a : JSON.stringify(a)).join(" "));
  };
  try {
    await fn();
  } finally {
    console.error = original;
  }
  return logged;
}

// ---------------------------------------------------------------------------------------------
// 200

Deno.test("200: embeddings in input order with model and dimensions", async () => {
  const session = new FakeSession();
  const inputs = ["first text", "b", "the third input, longer", "  padded  "];
  const res = await handlerWith(session)(post({ input: inputs }));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  const body = await res.json();
  assert.deepEqual(Object.keys(body).sort(), ["data", "dimensions", "model"]);
  assert.equal(body.model, "gte-small");
  assert.equal(body.model, MODEL);
  assert.equal(body.dimensions, 384);
  assert.equal(body.data.length, inputs.length);
  body.data.forEach((item: { index: number; embedding: number[] }, i: number) => {
    assert.deepEqual(Object.keys(item).sort(), ["embedding", "index"]);
    assert.equal(item.index, i);
    assert.deepEqual(item.embedding, vectorFor(inputs[i]));
  });
  // Every text went to the model as given, with mean pooling and normalisation.
  assert.deepEqual(session.calls.map((c) => c.text), inputs);
  for (const call of session.calls) {
    assert.deepEqual(call.options, { mean_pool: true, normalize: true });
  }
});

Deno.test("200: a single string input gives one embedding", async () => {
  const session = new FakeSession();
  const res = await handlerWith(session)(
    post({ input: "hello" }, { "content-type": "application/json; charset=utf-8" }),
  );
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.data.length, 1);
  assert.equal(body.data[0].index, 0);
  assert.equal(body.data[0].embedding.length, 384);
  assert.deepEqual(session.calls.map((c) => c.text), ["hello"]);
});

Deno.test("200: typed-array results are returned as plain JSON arrays", async () => {
  const session = new FakeSession(() => new Float32Array(DIMENSIONS).fill(0.5));
  const res = await handlerWith(session)(post({ input: ["a", "b"] }));
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.ok(Array.isArray(body.data[1].embedding));
  assert.equal(body.data[1].embedding.length, DIMENSIONS);
  assert.equal(body.data[1].embedding[383], 0.5);
});

Deno.test("200: exactly at the limits is accepted", async () => {
  const session = new FakeSession();
  const inputs = Array.from({ length: 64 }, (_, i) => `text ${i}`);
  inputs[10] = "x".repeat(8000);
  const res = await handlerWith(session)(post({ input: inputs }));
  assert.equal(res.status, 200);
  assert.equal((await res.json()).data.length, 64);
});

Deno.test("200: an ES256 user token verified through the JWKS", async () => {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
  const jwk = {
    ...(await crypto.subtle.exportKey("jwk", pair.publicKey)),
    kid: "k1",
    alg: "ES256",
  };
  const fetches: string[] = [];
  const fetchJwks: FetchLike = (url) => {
    fetches.push(url);
    return Promise.resolve(Response.json({ keys: [jwk] }));
  };
  const input = `${base64UrlEncode(JSON.stringify({ alg: "ES256", typ: "JWT", kid: "k1" }))}.${
    base64UrlEncode(JSON.stringify(userClaims()))
  }`;
  const signature = await crypto.subtle.sign(
    { name: "ECDSA", hash: "SHA-256" },
    pair.privateKey,
    new TextEncoder().encode(input),
  );
  const token = `${input}.${base64UrlEncode(new Uint8Array(signature))}`;
  const handler = handlerWith(new FakeSession(), {
    verifyToken: createVerifier({
      jwks: createJwksCache({
        url: "http://kong:8000/auth/v1/.well-known/jwks.json",
        fetch: fetchJwks,
      }),
    }),
  });
  const res = await handler(post({ input: "hi" }, { authorization: `Bearer ${token}` }));
  assert.equal(res.status, 200, await res.clone().text());
  assert.deepEqual(fetches, ["http://kong:8000/auth/v1/.well-known/jwks.json"]);
});

// ---------------------------------------------------------------------------------------------
// Deployed with verify_jwt = false: the function's own check is the only one

Deno.test("config.toml: the gateway leaves embed's tokens to the function (verify_jwt = false)", async () => {
  const config = await Deno.readTextFile(new URL("../../config.toml", import.meta.url));
  const section = config.split(/^\[functions\.embed\]\s*$/m)[1]?.split(/^\[/m)[0] ?? "";
  assert.match(section, /^verify_jwt = false$/m);
});

async function es256Token(
  privateKey: CryptoKey,
  kid: string,
  claims: Record<string, unknown>,
): Promise<string> {
  const input = `${base64UrlEncode(JSON.stringify({ alg: "ES256", typ: "JWT", kid }))}.${
    base64UrlEncode(JSON.stringify(claims))
  }`;
  const signature = await crypto.subtle.sign(
    { name: "ECDSA", hash: "SHA-256" },
    privateKey,
    new TextEncoder().encode(input),
  );
  return `${input}.${base64UrlEncode(new Uint8Array(signature))}`;
}

Deno.test("verify_jwt off: user and agent ES256 tokens pass the function's own check, as HS256", async () => {
  // What index.ts builds from the runtime's environment: the project's JWKS (asymmetric
  // signing keys) and, for legacy projects, its JWT secret.
  const project = "https://abcdefghijklmnop.supabase.co";
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
  const jwk = { ...(await crypto.subtle.exportKey("jwk", pair.publicKey)), kid: "key-1" };
  const fetchJwks: FetchLike = (url) =>
    Promise.resolve(
      url === `${project}/auth/v1/.well-known/jwks.json`
        ? Response.json({ keys: [{ ...jwk, alg: "ES256", use: "sig" }] })
        : new Response("not found", { status: 404 }),
    );
  const env: Record<string, string> = { SUPABASE_URL: project, SUPABASE_JWT_SECRET: SECRET };
  const handler = handlerWith(new FakeSession(), {
    verifyToken: verifierFromEnv((name) => env[name], fetchJwks),
  });
  const issuer = `${project}/auth/v1`;
  const tokens = {
    "a user's session (ES256)": await es256Token(
      pair.privateKey,
      "key-1",
      userClaims({ iss: issuer }),
    ),
    // Supabase Auth's OAuth server: the client's id and OIDC scopes, aud and role unchanged.
    "an agent's token (ES256)": await es256Token(
      pair.privateKey,
      "key-1",
      userClaims({
        iss: issuer,
        client_id: "5e1c0a52-2d3e-4b7a-9a55-0c6f2f1e8a10",
        scope: "openid email",
      }),
    ),
    "a legacy HS256 session": await signHs256(userClaims({ iss: issuer })),
  };
  for (const [kind, token] of Object.entries(tokens)) {
    const res = await handler(post({ input: "hi" }, { authorization: `Bearer ${token}` }));
    assert.equal(res.status, 200, `${kind}: ${await res.clone().text()}`);
  }
  // Another key's signature, with the same kid: the function refuses it itself.
  const other = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
  const forged = await es256Token(other.privateKey, "key-1", userClaims({ iss: issuer }));
  await expectError(
    await handler(post({ input: "hi" }, { authorization: `Bearer ${forged}` })),
    401,
    "invalid_token",
  );
});

// ---------------------------------------------------------------------------------------------
// CORS and methods

Deno.test("OPTIONS: 204 preflight with permissive CORS headers, no auth needed", async () => {
  const session = new FakeSession();
  const res = await handlerWith(session)(new Request(URL_, { method: "OPTIONS" }));
  assert.equal(res.status, 204);
  assert.equal(await res.text(), "");
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  assert.match(res.headers.get("access-control-allow-methods") ?? "", /POST/);
  const allowed = (res.headers.get("access-control-allow-headers") ?? "").split(/,\s*/);
  for (const header of ["authorization", "apikey", "content-type", "x-client-info"]) {
    assert.ok(allowed.includes(header), `${header} must be allowed`);
  }
  assert.equal(session.calls.length, 0);
});

Deno.test("405: only POST, with Allow: POST, OPTIONS", async () => {
  const handler = handlerWith();
  for (const method of ["GET", "PUT", "DELETE", "PATCH", "HEAD"]) {
    const res = await handler(
      new Request(URL_, { method, headers: { authorization: `Bearer ${userToken}` } }),
    );
    assert.equal(res.status, 405, method);
    assert.equal(res.headers.get("allow"), "POST, OPTIONS");
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
    if (method !== "HEAD") assert.equal((await res.json()).code, "method_not_allowed");
    else await res.body?.cancel();
  }
});

// ---------------------------------------------------------------------------------------------
// 401 / 403

async function expectInvalidToken(res: Response, token?: string): Promise<void> {
  const text = await res.clone().text();
  await expectError(res, 401, "invalid_token");
  assert.equal(res.headers.get("www-authenticate"), 'Bearer error="invalid_token"');
  if (token) {
    assert.ok(!text.includes(token), "the token must not be echoed");
    for (const part of token.split(".").filter((p) => p.length > 8)) {
      assert.ok(!text.includes(part), "no part of the token may be echoed");
    }
  }
}

Deno.test("401: missing or non-Bearer Authorization", async () => {
  const session = new FakeSession();
  const handler = handlerWith(session);
  await expectInvalidToken(await handler(post({ input: "x" }, { authorization: "" })));
  const noHeader = new Request(URL_, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ input: "x" }),
  });
  await expectInvalidToken(await handler(noHeader));
  for (const header of [`Basic ${userToken}`, "Bearer", "Bearer ", `Bearer ${userToken} extra`]) {
    await expectInvalidToken(
      await handler(post({ input: "x" }, { authorization: header })),
      userToken,
    );
  }
  assert.equal(session.calls.length, 0);
});

Deno.test("401: forged, expired, alg none and garbage tokens; never echoed", async () => {
  const session = new FakeSession();
  const handler = handlerWith(session);
  const [header, payload] = userToken.split(".");
  const tokens = {
    forged: await signHs256(userClaims(), "a-different-secret-of-at-least-32-bytes!!"),
    expired: await signHs256(userClaims({ exp: nowSeconds() - 120, iat: nowSeconds() - 3720 })),
    tampered: `${header}.${base64UrlEncode(JSON.stringify(userClaims({ sub: "other" })))}.${
      userToken.split(".")[2]
    }`,
    algNone: `${base64UrlEncode(JSON.stringify({ alg: "none", typ: "JWT" }))}.${payload}.`,
    noExp: await signHs256(userClaims({ exp: undefined })),
    wrongAudience: await signHs256(userClaims({ aud: "some-other-service" })),
    garbage: "not-a-jwt",
  };
  for (const [name, token] of Object.entries(tokens)) {
    const res = await handler(post({ input: "x" }, { authorization: `Bearer ${token}` }));
    await expectInvalidToken(res, token).catch((e) => {
      throw new Error(`${name}: ${e.message}`);
    });
  }
  const expired = await handler(
    post({ input: "x" }, { authorization: `Bearer ${tokens.expired}` }),
  );
  assert.match((await expired.json()).error, /expired/);
  assert.equal(session.calls.length, 0);
});

Deno.test("401: HS256 token signed with the JWKS public key (algorithm confusion)", async () => {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
  const jwk = {
    ...(await crypto.subtle.exportKey("jwk", pair.publicKey)),
    kid: "k1",
    alg: "ES256",
  };
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
  const fetchJwks: FetchLike = () => Promise.resolve(Response.json({ keys: [jwk] }));
  const session = new FakeSession();
  const jwksOnly = handlerWith(session, {
    verifyToken: createVerifier({
      jwks: createJwksCache({ url: "http://x/jwks", fetch: fetchJwks }),
    }),
  });
  const withSecret = handlerWith(session, {
    verifyToken: createVerifier({
      hs256Secret: SECRET,
      jwks: createJwksCache({ url: "http://x/jwks", fetch: fetchJwks }),
    }),
  });
  for (const material of [new TextEncoder().encode(JSON.stringify(jwk)), spki]) {
    const token = await hmacSign(material, { alg: "HS256", typ: "JWT", kid: "k1" }, userClaims());
    for (const handler of [jwksOnly, withSecret]) {
      await expectInvalidToken(
        await handler(post({ input: "x" }, { authorization: `Bearer ${token}` })),
        token,
      );
    }
  }
  assert.equal(session.calls.length, 0);
});

Deno.test("401 comes before body checks: nothing is parsed for strangers", async () => {
  const session = new FakeSession();
  const res = await handlerWith(session)(
    post("{not json", { authorization: "Bearer nope", "content-type": "text/plain" }),
  );
  await expectInvalidToken(res);
  assert.equal(session.calls.length, 0);
});

Deno.test("403: anon and service_role API keys and non-user roles", async () => {
  const session = new FakeSession();
  const handler = handlerWith(session);
  const exp = nowSeconds() + 86400;
  const tokens = [
    // Shaped like the API keys `supabase status` prints: no aud.
    await signHs256({ iss: "supabase-demo", role: "anon", exp }),
    await signHs256({ iss: "supabase-demo", role: "service_role", exp }),
    // Valid audience but not a signed-in user's role.
    await signHs256(userClaims({ role: "anon" })),
    await signHs256(userClaims({ role: "service_role" })),
    await signHs256(userClaims({ role: undefined })),
  ];
  for (const token of tokens) {
    const res = await handler(post({ input: "x" }, { authorization: `Bearer ${token}` }));
    const text = await res.clone().text();
    await expectError(res, 403, "insufficient_role");
    assert.ok(!text.includes(token));
  }
  assert.equal(session.calls.length, 0);
});

Deno.test("503: token verification unavailable when the JWKS cannot be fetched", async () => {
  const failingFetch: FetchLike = () => Promise.reject(new TypeError("connection refused"));
  const handler = handlerWith(new FakeSession(), {
    verifyToken: createVerifier({
      jwks: createJwksCache({ url: "http://x/jwks", fetch: failingFetch }),
    }),
  });
  const header = base64UrlEncode(JSON.stringify({ alg: "ES256", kid: "k1" }));
  const token = `${header}.${base64UrlEncode(JSON.stringify(userClaims()))}.${"A".repeat(86)}`;
  let res: Response | undefined;
  await captureErrors(async () => {
    res = await handler(post({ input: "x" }, { authorization: `Bearer ${token}` }));
  });
  await expectError(res!, 503, "auth_unavailable");
});

// ---------------------------------------------------------------------------------------------
// 415 / 400 / 413

Deno.test("415: Content-Type other than application/json", async () => {
  const handler = handlerWith();
  for (const type of ["text/plain", "application/x-www-form-urlencoded", "application/jsonx"]) {
    await expectError(
      await handler(post({ input: "x" }, { "content-type": type })),
      415,
      "unsupported_media_type",
    );
  }
  const noType = new Request(URL_, {
    method: "POST",
    headers: { authorization: `Bearer ${userToken}` },
    body: new TextEncoder().encode(JSON.stringify({ input: "x" })),
  });
  await expectError(await handler(noType), 415, "unsupported_media_type");
  const upper = await handler(post({ input: "x" }, { "content-type": "Application/JSON" }));
  assert.equal(upper.status, 200);
  await upper.body?.cancel();
});

Deno.test("400: invalid JSON and malformed bodies", async () => {
  const session = new FakeSession();
  const handler = handlerWith(session);
  const cases: [string, RegExp][] = [
    ["{not json", /not valid JSON/],
    ["", /not valid JSON/],
    ["[1, 2]", /JSON object/],
    ['"input"', /JSON object/],
    ["null", /JSON object/],
    ["{}", /input is required/],
    ['{"input": null}', /input is required/],
    ['{"inputs": ["x"]}', /input is required/],
    ['{"input": []}', /input must not be an empty array/],
    ['{"input": 42}', /input must be a non-empty string or an array/],
    ['{"input": {"text": "x"}}', /input must be a non-empty string or an array/],
    ['{"input": ""}', /^input must be a non-empty string$/],
    ['{"input": "   \\n\\t "}', /^input must be a non-empty string$/],
    ['{"input": ["a", "b", "c", 4]}', /^input\[3\] must be a non-empty string$/],
    ['{"input": ["a", null]}', /^input\[1\] must be a non-empty string$/],
    ['{"input": ["a", ["b"]]}', /^input\[1\] must be a non-empty string$/],
    ['{"input": ["a", "  "]}', /^input\[1\] must be a non-empty string$/],
    ['{"input": [""]}', /^input\[0\] must be a non-empty string$/],
  ];
  for (const [body, message] of cases) {
    const error = await expectError(await handler(post(body)), 400, "invalid_request");
    assert.match(error.error, message, body);
  }
  // Not UTF-8.
  const latin1 = new Request(URL_, {
    method: "POST",
    headers: { authorization: `Bearer ${userToken}`, "content-type": "application/json" },
    body: new Uint8Array([
      0x7b,
      0x22,
      0x69,
      0x6e,
      0x70,
      0x75,
      0x74,
      0x22,
      0x3a,
      0x22,
      0xe9,
      0x22,
      0x7d,
    ]),
  });
  await expectError(await handler(latin1), 400, "invalid_request");
  assert.equal(session.calls.length, 0);
});

Deno.test("413: too many inputs, an input too long, a body too large", async () => {
  const session = new FakeSession();
  const handler = handlerWith(session);

  const tooMany = await expectError(
    await handler(post({ input: Array.from({ length: 65 }, () => "x") })),
    413,
    "payload_too_large",
  );
  assert.match(tooMany.error, /65/);
  assert.match(tooMany.error, /at most 64/);

  const inputs = ["ok", "fine", "x".repeat(8001)];
  const tooLong = await expectError(
    await handler(post({ input: inputs })),
    413,
    "payload_too_large",
  );
  assert.match(tooLong.error, /^input\[2\] is longer than the limit of 8000 characters$/);
  assert.ok(!tooLong.error.includes("xxxxxxxx"), "the input must not be echoed");

  const single = await expectError(
    await handler(post({ input: "y".repeat(8001) })),
    413,
    "payload_too_large",
  );
  assert.match(single.error, /^input is longer than the limit of 8000 characters$/);

  // Custom limits.
  const strict = handlerWith(session, { maxInputs: 2, maxInputChars: 5, maxBodyBytes: 200 });
  assert.match(
    (await expectError(await strict(post({ input: ["a", "b", "c"] })), 413, "payload_too_large"))
      .error,
    /at most 2/,
  );
  assert.match(
    (await expectError(await strict(post({ input: ["abcdef"] })), 413, "payload_too_large")).error,
    /limit of 5 characters/,
  );
  const big = await expectError(
    await strict(post({ input: ["a"], padding: "p".repeat(300) })),
    413,
    "payload_too_large",
  );
  assert.match(big.error, /larger than 200 bytes/);
  // Also without a Content-Length header (a streamed body).
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode(" ".repeat(50)));
      controller.close();
    },
  });
  const streamed = new Request(URL_, {
    method: "POST",
    headers: { authorization: `Bearer ${userToken}`, "content-type": "application/json" },
    body: stream,
  });
  assert.equal(streamed.headers.get("content-length"), null);
  await expectError(await strict(streamed), 413, "payload_too_large");

  assert.equal(session.calls.length, 0);
});

Deno.test("limits must be positive integers", () => {
  for (const bad of [0, -1, 1.5, Number.NaN, Infinity]) {
    assert.throws(() => handlerWith(new FakeSession(), { maxInputs: bad }), TypeError);
    assert.throws(() => handlerWith(new FakeSession(), { maxInputChars: bad }), TypeError);
  }
});

// ---------------------------------------------------------------------------------------------
// 503

const SECRET_TEXT = "confidential meeting notes about project zebra";

async function expectModelUnavailable(session: EmbeddingSession): Promise<string[]> {
  const handler = handlerWith(session);
  let res: Response | undefined;
  const logged = await captureErrors(async () => {
    res = await handler(post({ input: ["fine", SECRET_TEXT] }));
  });
  const body = await expectError(res!, 503, "model_unavailable");
  assert.equal(body.error, "embedding model unavailable");
  assert.ok(logged.length > 0, "the failure must be logged");
  for (const line of logged) {
    assert.ok(!line.includes("zebra"), `the input text must not be logged: ${line}`);
    assert.ok(!line.includes(userToken), "the token must not be logged");
  }
  return logged;
}

Deno.test("503: the session throws", async () => {
  await expectModelUnavailable(
    new FakeSession((text) => {
      if (text === SECRET_TEXT) throw new Error(`model crashed while reading "${text}"`);
      return vectorFor(text);
    }),
  );
  await expectModelUnavailable(
    new FakeSession(() => {
      throw "a string, not an Error";
    }),
  );
});

Deno.test("503: the session returns an invalid embedding", async () => {
  const bad: unknown[] = [
    new Array(383).fill(0.1), // wrong length
    new Array(385).fill(0.1),
    [],
    [...new Array(383).fill(0.1), Number.NaN], // non-finite
    [...new Array(383).fill(0.1), Infinity],
    [...new Array(383).fill(0.1), -Infinity],
    [...new Array(383).fill(0.1), "0.1"], // not a number
    new Float32Array(383),
    null,
    undefined,
    { length: 384 },
    "0.1,0.2",
  ];
  for (const result of bad) {
    await expectModelUnavailable(
      new FakeSession((text) => text === SECRET_TEXT ? result : vectorFor(text)),
    );
  }
});

Deno.test("the token never appears in any response body", async () => {
  const handler = handlerWith(
    new FakeSession((text) => {
      if (text === "boom") throw new Error("boom");
      return vectorFor(text);
    }),
  );
  const requests = [
    post({ input: "ok" }),
    post({ input: "boom" }),
    post("{bad"),
    post({ input: [1] }),
    post({ input: "x" }, { "content-type": "text/plain" }),
    new Request(URL_, { method: "GET", headers: { authorization: `Bearer ${userToken}` } }),
    new Request(URL_, { method: "OPTIONS", headers: { authorization: `Bearer ${userToken}` } }),
  ];
  await captureErrors(async () => {
    for (const req of requests) {
      const text = await (await handler(req)).text();
      assert.ok(!text.includes(userToken));
      for (const part of userToken.split(".")) assert.ok(!text.includes(part));
    }
  });
});
