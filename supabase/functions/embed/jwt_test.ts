// Tests for jwt.ts. Offline: tokens and keys are made here with WebCrypto, the JWKS endpoint is
// an injected fetch function, and the clock is injected where time matters.

import assert from "node:assert/strict";
import {
  base64UrlDecode,
  base64UrlEncode,
  checkClaims,
  createJwksCache,
  createVerifier,
  decodeJwt,
  type FetchLike,
  importJwk,
  type JwksCache,
  JwtError,
  type JwtErrorCode,
  verifierFromEnv,
} from "./jwt.ts";
import { encodeParts, hmacSign } from "./testing.ts";

const SECRET = "test-secret-that-is-at-least-32-bytes-long-0123456789";
const JWKS_URL = "https://project.example/auth/v1/.well-known/jwks.json";
const NOW_MS = 1_800_000_000_000;
const NOW = NOW_MS / 1000;

// ---------------------------------------------------------------------------------------------
// Token minting

function signHs256(
  claims: Record<string, unknown>,
  secret = SECRET,
  header: Record<string, unknown> = {},
): Promise<string> {
  return hmacSign(
    new TextEncoder().encode(secret),
    { alg: "HS256", typ: "JWT", ...header },
    claims,
  );
}

async function signAsymmetric(
  alg: "ES256" | "RS256",
  privateKey: CryptoKey,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  const input = encodeParts({ alg, typ: "JWT", ...header }, claims);
  const params = alg === "ES256"
    ? { name: "ECDSA", hash: "SHA-256" }
    : { name: "RSASSA-PKCS1-v1_5" };
  const signature = await crypto.subtle.sign(params, privateKey, new TextEncoder().encode(input));
  return `${input}.${base64UrlEncode(new Uint8Array(signature))}`;
}

/** The claims Supabase Auth puts in a signed-in user's access token. */
function userClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    iss: "https://project.example/auth/v1",
    sub: "8b1c6f3e-52a7-4a4e-9a55-0b6c4f7d2e11",
    aud: "authenticated",
    exp: NOW + 3600,
    iat: NOW,
    role: "authenticated",
    session_id: "5d0c5a8e-0d53-4a0a-9d9b-0f3b8b1b2c33",
    is_anonymous: false,
    ...overrides,
  };
}

async function generateEs256(kid: string) {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
  const jwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
  return { privateKey: pair.privateKey, jwk: { ...jwk, kid, alg: "ES256", use: "sig" } };
}

async function generateRs256(kid: string) {
  const pair = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  );
  const jwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
  return { privateKey: pair.privateKey, jwk: { ...jwk, kid, alg: "RS256", use: "sig" } };
}

const es = await generateEs256("es-key-1");
const rsa = await generateRs256("rsa-key-1");

/** A fake JWKS endpoint whose key set can change between calls. */
function fakeJwksEndpoint(initialKeys: unknown[]) {
  const state = {
    keys: initialKeys,
    status: 200,
    fail: false,
    calls: [] as string[],
  };
  const fetch: FetchLike = (input) => {
    state.calls.push(input);
    if (state.fail) return Promise.reject(new TypeError("network down"));
    return Promise.resolve(
      new Response(JSON.stringify({ keys: state.keys }), {
        status: state.status,
        headers: { "content-type": "application/json" },
      }),
    );
  };
  return { state, fetch };
}

function clock(startMs = NOW_MS) {
  const c = { ms: startMs, now: () => c.ms };
  return c;
}

/** Asserts that `promise` rejects with a JwtError of `code` whose message omits `token`. */
async function rejectsWith(promise: Promise<unknown>, code: JwtErrorCode, token?: string) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof JwtError, `expected a JwtError, got ${error}`);
    assert.equal(error.code, code);
    if (token) {
      for (const part of [token, ...token.split(".").filter((p) => p.length > 8)]) {
        assert.ok(!error.message.includes(part), "the error message must not quote the token");
      }
    }
    return true;
  });
}

/** Silences console.error (JWKS fetch failures are logged) and returns what was logged. */
async function quietly<T>(fn: () => Promise<T>): Promise<{ result: T; logged: string[] }> {
  const original = console.error;
  const logged: string[] = [];
  console.error = (...args: unknown[]) => {
    logged.push(args.map(String).join(" "));
  };
  try {
    return { result: await fn(), logged };
  } finally {
    console.error = original;
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding and decoding

Deno.test("base64url round-trips and refuses other alphabets", () => {
  const bytes = new Uint8Array([0, 250, 251, 252, 253, 254, 255, 62, 63]);
  assert.deepEqual(base64UrlDecode(base64UrlEncode(bytes)), bytes);
  assert.throws(() => base64UrlDecode("ab+/"), JwtError);
  assert.throws(() => base64UrlDecode("abc="), JwtError);
  assert.throws(() => base64UrlDecode("abcde"), JwtError); // length % 4 == 1
});

Deno.test("decodeJwt rejects malformed tokens", () => {
  const header = base64UrlEncode(JSON.stringify({ alg: "HS256" }));
  const payload = base64UrlEncode(JSON.stringify({ sub: "x" }));
  for (
    const token of [
      "",
      "abc",
      `${header}.${payload}`,
      `${header}.${payload}.sig.extra`,
      `${header}.${payload}.s!g`,
      `${base64UrlEncode("not json")}.${payload}.sig`,
      `${base64UrlEncode("[1,2]")}.${payload}.sig`,
      `${header}.${base64UrlEncode("null")}.sig`,
      `${header}.${payload}.${"a".repeat(20_000)}`,
    ]
  ) {
    assert.throws(() => decodeJwt(token), (e: unknown) => e instanceof JwtError, token);
  }
  const decoded = decodeJwt(`${header}.${payload}.`);
  assert.equal(decoded.header.alg, "HS256");
  assert.equal(decoded.signature.byteLength, 0);
});

// ---------------------------------------------------------------------------------------------
// Claims

Deno.test("checkClaims: exp is required and allows at most 30 s of leeway", () => {
  assert.equal(
    checkClaims({ exp: NOW + 1, aud: "authenticated" }, { nowSeconds: NOW }).exp,
    NOW + 1,
  );
  assert.ok(checkClaims({ exp: NOW - 29, aud: "authenticated" }, { nowSeconds: NOW }));
  assert.throws(
    () => checkClaims({ exp: NOW - 31, aud: "authenticated" }, { nowSeconds: NOW }),
    (e: unknown) => e instanceof JwtError && e.code === "expired",
  );
  // A larger leeway is clamped to 30 s.
  assert.throws(
    () =>
      checkClaims({ exp: NOW - 31, aud: "authenticated" }, {
        nowSeconds: NOW,
        leewaySeconds: 3600,
      }),
    (e: unknown) => e instanceof JwtError && e.code === "expired",
  );
  assert.throws(
    () =>
      checkClaims({ exp: NOW - 1, aud: "authenticated" }, { nowSeconds: NOW, leewaySeconds: 0 }),
    (e: unknown) => e instanceof JwtError && e.code === "expired",
  );
  assert.throws(
    () => checkClaims({ aud: "authenticated" }, { nowSeconds: NOW }),
    (e: unknown) => e instanceof JwtError && e.code === "missing_claim",
  );
  assert.throws(
    () => checkClaims({ exp: String(NOW + 60), aud: "authenticated" }, { nowSeconds: NOW }),
    (e: unknown) => e instanceof JwtError && e.code === "malformed",
  );
});

Deno.test("checkClaims: nbf is honoured when present", () => {
  assert.ok(
    checkClaims({ exp: NOW + 60, nbf: NOW + 20, aud: "authenticated" }, { nowSeconds: NOW }),
  );
  assert.throws(
    () => checkClaims({ exp: NOW + 600, nbf: NOW + 31, aud: "authenticated" }, { nowSeconds: NOW }),
    (e: unknown) => e instanceof JwtError && e.code === "not_yet_valid",
  );
});

Deno.test("checkClaims: aud is required and must be 'authenticated'", () => {
  assert.ok(checkClaims({ exp: NOW + 60, aud: ["other", "authenticated"] }, { nowSeconds: NOW }));
  for (const aud of [undefined, "anon", "", ["other"], 1]) {
    assert.throws(
      () => checkClaims({ exp: NOW + 60, aud, role: "anon" }, { nowSeconds: NOW }),
      (e: unknown) =>
        e instanceof JwtError && e.code === "invalid_audience" && e.verifiedClaims?.role === "anon",
    );
  }
});

// ---------------------------------------------------------------------------------------------
// HS256

Deno.test("HS256: a token signed with the secret verifies", async () => {
  const verify = createVerifier({ hs256Secret: SECRET, now: () => NOW_MS });
  const claims = await verify(await signHs256(userClaims()));
  assert.equal(claims.role, "authenticated");
  assert.equal(claims.sub, "8b1c6f3e-52a7-4a4e-9a55-0b6c4f7d2e11");
});

Deno.test("HS256: forged, tampered, expired and audience-less tokens are refused", async () => {
  const verify = createVerifier({ hs256Secret: SECRET, now: () => NOW_MS });

  const forged = await signHs256(userClaims(), "another-secret-that-is-also-32-bytes-long!!");
  await rejectsWith(verify(forged), "bad_signature", forged);

  const [header, , signature] = (await signHs256(userClaims())).split(".");
  const tampered = `${header}.${
    base64UrlEncode(JSON.stringify(userClaims({ sub: "someone-else" })))
  }.${signature}`;
  await rejectsWith(verify(tampered), "bad_signature", tampered);

  const unsigned = `${header}.${base64UrlEncode(JSON.stringify(userClaims()))}.`;
  await rejectsWith(verify(unsigned), "bad_signature", unsigned);

  const expired = await signHs256(userClaims({ exp: NOW - 31, iat: NOW - 3631 }));
  await rejectsWith(verify(expired), "expired", expired);

  const future = await signHs256(userClaims({ nbf: NOW + 120 }));
  await rejectsWith(verify(future), "not_yet_valid", future);

  const noExp = await signHs256(userClaims({ exp: undefined }));
  await rejectsWith(verify(noExp), "missing_claim", noExp);

  // A forged token never gets as far as the audience check (which hands claims back).
  const forgedAnon = await signHs256(
    { role: "anon", exp: NOW + 60 },
    "another-secret-that-is-also-32-bytes-long!!",
  );
  await rejectsWith(verify(forgedAnon), "bad_signature", forgedAnon);
});

Deno.test("HS256: a genuine anon API key fails on audience with its verified claims", async () => {
  const verify = createVerifier({ hs256Secret: SECRET, now: () => NOW_MS });
  const anonKey = await signHs256({ iss: "supabase-demo", role: "anon", exp: NOW + 86400 });
  await assert.rejects(verify(anonKey), (e: unknown) => {
    assert.ok(e instanceof JwtError);
    assert.equal(e.code, "invalid_audience");
    assert.equal(e.verifiedClaims?.role, "anon");
    return true;
  });
});

Deno.test("alg none and other algorithms are refused", async () => {
  const verify = createVerifier({ hs256Secret: SECRET, now: () => NOW_MS });
  const body = base64UrlEncode(JSON.stringify(userClaims()));
  for (const alg of ["none", "None", "NONE", "", "HS384", "HS512", "RS512", "PS256", "EdDSA"]) {
    const token = `${base64UrlEncode(JSON.stringify({ alg, typ: "JWT" }))}.${body}.`;
    await rejectsWith(verify(token), "unsupported_algorithm", token);
  }
  const noAlg = `${base64UrlEncode(JSON.stringify({ typ: "JWT" }))}.${body}.`;
  await rejectsWith(verify(noAlg), "unsupported_algorithm", noAlg);
  // alg none with a (meaningless) signature attached.
  const noneWithSig = `${base64UrlEncode(JSON.stringify({ alg: "none" }))}.${body}.c2ln`;
  await rejectsWith(verify(noneWithSig), "unsupported_algorithm", noneWithSig);
  // Critical header extensions are not understood, so not accepted.
  const crit = await signHs256(userClaims(), SECRET, { crit: ["b64"], b64: false });
  await rejectsWith(verify(crit), "unsupported_algorithm", crit);
});

Deno.test("HS256 secrets shorter than 32 bytes are refused at construction", () => {
  assert.throws(() => createVerifier({ hs256Secret: "short" }), /at least 32 bytes/);
  assert.throws(() => createVerifier({}), /needs an HS256 secret, a JWKS, or both/);
});

// ---------------------------------------------------------------------------------------------
// JWKS: ES256 and RS256

Deno.test("ES256 and RS256 tokens verify against the JWKS", async () => {
  const endpoint = fakeJwksEndpoint([es.jwk, rsa.jwk]);
  const jwks = createJwksCache({ url: JWKS_URL, fetch: endpoint.fetch, now: () => NOW_MS });
  const verify = createVerifier({ jwks, now: () => NOW_MS });

  const esToken = await signAsymmetric("ES256", es.privateKey, userClaims(), { kid: "es-key-1" });
  assert.equal((await verify(esToken)).role, "authenticated");
  const rsToken = await signAsymmetric("RS256", rsa.privateKey, userClaims(), { kid: "rsa-key-1" });
  assert.equal((await verify(rsToken)).role, "authenticated");

  // One fetch, from the configured URL, served both tokens.
  assert.deepEqual(endpoint.state.calls, [JWKS_URL]);
  assert.equal(jwks.fetchCount, 1);
});

Deno.test("ES256: bad signatures, expiry and wrong audience are refused", async () => {
  const endpoint = fakeJwksEndpoint([es.jwk]);
  const jwks = createJwksCache({ url: JWKS_URL, fetch: endpoint.fetch, now: () => NOW_MS });
  const verify = createVerifier({ jwks, now: () => NOW_MS });
  const other = await generateEs256("es-key-1"); // same kid, different key

  const forged = await signAsymmetric("ES256", other.privateKey, userClaims(), { kid: "es-key-1" });
  await rejectsWith(verify(forged), "bad_signature", forged);

  const [header, , signature] = (await signAsymmetric("ES256", es.privateKey, userClaims(), {
    kid: "es-key-1",
  })).split(".");
  const tampered = `${header}.${
    base64UrlEncode(JSON.stringify(userClaims({ role: "x" })))
  }.${signature}`;
  await rejectsWith(verify(tampered), "bad_signature", tampered);

  const truncated = `${header}.${base64UrlEncode(JSON.stringify(userClaims()))}.${
    signature.slice(0, 40)
  }`;
  await rejectsWith(verify(truncated), "bad_signature", truncated);

  const expired = await signAsymmetric("ES256", es.privateKey, userClaims({ exp: NOW - 60 }), {
    kid: "es-key-1",
  });
  await rejectsWith(verify(expired), "expired", expired);

  const serviceRole = await signAsymmetric(
    "ES256",
    es.privateKey,
    { role: "service_role", exp: NOW + 60 },
    { kid: "es-key-1" },
  );
  await rejectsWith(verify(serviceRole), "invalid_audience", serviceRole);
});

Deno.test("algorithm confusion: an HS256 token signed with a JWKS public key is refused", async () => {
  const endpoint = fakeJwksEndpoint([es.jwk, rsa.jwk]);
  const rsaSpki = new Uint8Array(
    await crypto.subtle.exportKey(
      "spki",
      await crypto.subtle.importKey(
        "jwk",
        { kty: "RSA", n: rsa.jwk.n, e: rsa.jwk.e },
        { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
        true,
        ["verify"],
      ),
    ),
  );
  const pem = `-----BEGIN PUBLIC KEY-----\n${
    btoa(String.fromCharCode(...rsaSpki))
  }\n-----END PUBLIC KEY-----\n`;
  const publicKeyMaterials: [string, Uint8Array<ArrayBuffer>][] = [
    ["es-key-1", new TextEncoder().encode(JSON.stringify(es.jwk))],
    ["es-key-1", base64UrlDecode(es.jwk.x!)],
    ["rsa-key-1", new TextEncoder().encode(pem)],
    ["rsa-key-1", rsaSpki],
  ];

  // JWKS only: HS256 is not accepted at all, and the JWKS is not even consulted.
  const jwksOnly = createJwksCache({ url: JWKS_URL, fetch: endpoint.fetch, now: () => NOW_MS });
  const verifyJwksOnly = createVerifier({ jwks: jwksOnly, now: () => NOW_MS });
  // Secret and JWKS: HS256 is checked with the secret only.
  const both = createJwksCache({ url: JWKS_URL, fetch: endpoint.fetch, now: () => NOW_MS });
  const verifyBoth = createVerifier({ hs256Secret: SECRET, jwks: both, now: () => NOW_MS });

  for (const [kid, material] of publicKeyMaterials) {
    const token = await hmacSign(material, { alg: "HS256", typ: "JWT", kid }, userClaims());
    await rejectsWith(verifyJwksOnly(token), "unsupported_algorithm", token);
    await rejectsWith(verifyBoth(token), "bad_signature", token);
  }
  assert.equal(jwksOnly.fetchCount, 0);
  assert.equal(both.fetchCount, 0);
});

Deno.test("a JWKS key is only used with its own algorithm and key type", async () => {
  const endpoint = fakeJwksEndpoint([es.jwk, rsa.jwk]);
  const c = clock();
  const jwks = createJwksCache({ url: JWKS_URL, fetch: endpoint.fetch, now: c.now });
  const verify = createVerifier({ jwks, now: c.now });

  // An RS256 header naming the EC key's kid (and vice versa) finds no key to use.
  const rsWithEcKid = await signAsymmetric("RS256", rsa.privateKey, userClaims(), {
    kid: "es-key-1",
  });
  await rejectsWith(verify(rsWithEcKid), "unknown_key", rsWithEcKid);
  const esWithRsaKid = await signAsymmetric("ES256", es.privateKey, userClaims(), {
    kid: "rsa-key-1",
  });
  await rejectsWith(verify(esWithRsaKid), "unknown_key", esWithRsaKid);

  // A JWKS entry whose alg contradicts its kty, an encryption key, a symmetric key and a short
  // RSA key are all ignored.
  assert.equal(await importJwk({ ...es.jwk, alg: "RS256" }), null);
  assert.equal(await importJwk({ ...rsa.jwk, alg: "ES256" }), null);
  assert.equal(await importJwk({ ...es.jwk, use: "enc" }), null);
  assert.equal(await importJwk({ ...es.jwk, key_ops: ["encrypt"] }), null);
  assert.equal(await importJwk({ kty: "oct", kid: "hs", k: base64UrlEncode(SECRET) }), null);
  assert.equal(await importJwk({ ...es.jwk, crv: "P-384" }), null);
  assert.equal(await importJwk({ ...rsa.jwk, n: rsa.jwk.n!.slice(0, 170) }), null);
  assert.equal(await importJwk({ ...es.jwk, x: "AAAA" }), null);
  assert.equal((await importJwk({ ...es.jwk, alg: undefined }))?.alg, "ES256");
  assert.equal((await importJwk(rsa.jwk))?.alg, "RS256");

  // A symmetric key published in a JWKS never verifies an HS256 token.
  const octEndpoint = fakeJwksEndpoint([{ kty: "oct", kid: "hs", alg: "HS256", k: "c2VjcmV0" }]);
  const octVerify = createVerifier({
    jwks: createJwksCache({ url: JWKS_URL, fetch: octEndpoint.fetch, now: c.now }),
    now: c.now,
  });
  const octToken = await hmacSign(new TextEncoder().encode("secret"), {
    alg: "HS256",
    kid: "hs",
  }, userClaims());
  await rejectsWith(octVerify(octToken), "unsupported_algorithm", octToken);
});

Deno.test("an unknown kid triggers one JWKS refetch, at most once per 60 s", async () => {
  const c = clock();
  const endpoint = fakeJwksEndpoint([es.jwk]);
  const jwks: JwksCache = createJwksCache({ url: JWKS_URL, fetch: endpoint.fetch, now: c.now });
  const verify = createVerifier({ jwks, now: c.now });

  const first = await signAsymmetric("ES256", es.privateKey, userClaims(), { kid: "es-key-1" });
  await verify(first);
  assert.equal(jwks.fetchCount, 1);

  // A key rotated in a minute later: the unknown kid refetches once and then verifies.
  const rotated = await generateEs256("es-key-2");
  endpoint.state.keys = [es.jwk, rotated.jwk];
  c.ms += 61_000;
  const second = await signAsymmetric(
    "ES256",
    rotated.privateKey,
    userClaims({ exp: NOW + 7200 }),
    {
      kid: "es-key-2",
    },
  );
  assert.equal((await verify(second)).role, "authenticated");
  assert.equal(jwks.fetchCount, 2);

  // Known kids do not refetch.
  await verify(first);
  await verify(second);
  assert.equal(jwks.fetchCount, 2);

  // Made-up kids within the next 60 s do not refetch at all...
  const bogus = await generateEs256("bogus");
  for (let i = 0; i < 5; i++) {
    c.ms += 1_000;
    const token = await signAsymmetric("ES256", bogus.privateKey, userClaims({ exp: NOW + 7200 }), {
      kid: `bogus-${i}`,
    });
    await rejectsWith(verify(token), "unknown_key", token);
  }
  assert.equal(jwks.fetchCount, 2);

  // ...and once 60 s have passed, the next one refetches exactly once.
  c.ms += 60_000;
  const late = await signAsymmetric("ES256", bogus.privateKey, userClaims({ exp: NOW + 7200 }), {
    kid: "bogus-late",
  });
  await rejectsWith(verify(late), "unknown_key", late);
  assert.equal(jwks.fetchCount, 3);
  assert.ok(endpoint.state.calls.every((url) => url === JWKS_URL));
});

Deno.test("concurrent verifications share one JWKS fetch", async () => {
  const endpoint = fakeJwksEndpoint([es.jwk]);
  const jwks = createJwksCache({ url: JWKS_URL, fetch: endpoint.fetch, now: () => NOW_MS });
  const verify = createVerifier({ jwks, now: () => NOW_MS });
  const token = await signAsymmetric("ES256", es.privateKey, userClaims(), { kid: "es-key-1" });
  const results = await Promise.all(Array.from({ length: 10 }, () => verify(token)));
  assert.equal(results.length, 10);
  assert.equal(jwks.fetchCount, 1);
});

Deno.test("JWKS outages: no keys yet -> jwks_unavailable; later outages keep the old keys", async () => {
  const c = clock();
  const endpoint = fakeJwksEndpoint([es.jwk]);
  const jwks = createJwksCache({ url: JWKS_URL, fetch: endpoint.fetch, now: c.now });
  const verify = createVerifier({ jwks, now: c.now });
  const token = await signAsymmetric("ES256", es.privateKey, userClaims(), { kid: "es-key-1" });

  endpoint.state.fail = true;
  const { logged } = await quietly(() => rejectsWith(verify(token), "jwks_unavailable", token));
  assert.equal(jwks.fetchCount, 1);
  assert.ok(logged.some((line) => line.includes("JWKS fetch failed")));
  // Retried after a short back-off, not on every request.
  await quietly(() => rejectsWith(verify(token), "jwks_unavailable", token));
  assert.equal(jwks.fetchCount, 1);
  c.ms += 5_000;
  endpoint.state.fail = false;
  endpoint.state.status = 500;
  await quietly(() => rejectsWith(verify(token), "jwks_unavailable", token));
  assert.equal(jwks.fetchCount, 2);
  c.ms += 5_000;
  endpoint.state.status = 200;
  assert.equal((await verify(token)).role, "authenticated");
  assert.equal(jwks.fetchCount, 3);

  // Keys older than 10 minutes are refreshed; when that fails, the cached keys still work.
  c.ms += 10 * 60_000;
  endpoint.state.fail = true;
  await quietly(() => verify(token));
  assert.equal(jwks.fetchCount, 4);
  // And a key dropped from the JWKS stops verifying once the keys are refreshed.
  c.ms += 10 * 60_000;
  endpoint.state.fail = false;
  endpoint.state.keys = [];
  await rejectsWith(verify(token), "unknown_key", token);
  assert.equal(jwks.fetchCount, 5);
});

// ---------------------------------------------------------------------------------------------
// verifierFromEnv

function envOf(values: Record<string, string>) {
  return (name: string): string | undefined => values[name];
}

Deno.test("verifierFromEnv: HS256 from SUPABASE_JWT_SECRET or JWT_SECRET", async () => {
  const token = await signHs256(userClaims({ exp: Math.floor(Date.now() / 1000) + 600 }));
  for (const name of ["SUPABASE_JWT_SECRET", "JWT_SECRET"]) {
    const verify = verifierFromEnv(envOf({ [name]: SECRET }));
    assert.equal((await verify(token)).role, "authenticated");
    // Without SUPABASE_URL, asymmetric tokens are not accepted.
    const esToken = await signAsymmetric("ES256", es.privateKey, userClaims(), { kid: "es-key-1" });
    await rejectsWith(verify(esToken), "unsupported_algorithm", esToken);
  }
});

Deno.test("verifierFromEnv: JWKS from SUPABASE_URL", async () => {
  const endpoint = fakeJwksEndpoint([es.jwk]);
  const verify = verifierFromEnv(
    envOf({ SUPABASE_URL: "https://project.example/" }),
    endpoint.fetch,
  );
  const token = await signAsymmetric(
    "ES256",
    es.privateKey,
    userClaims({ exp: Math.floor(Date.now() / 1000) + 600 }),
    { kid: "es-key-1" },
  );
  assert.equal((await verify(token)).role, "authenticated");
  assert.deepEqual(endpoint.state.calls, [JWKS_URL]);
  // No secret configured: HS256 is refused outright.
  const hsToken = await signHs256(userClaims());
  await rejectsWith(verify(hsToken), "unsupported_algorithm", hsToken);
});

Deno.test("verifierFromEnv: refuses to start without keys or with a short secret", () => {
  assert.throws(() => verifierFromEnv(envOf({})), /SUPABASE_URL/);
  assert.throws(() => verifierFromEnv(envOf({ JWT_SECRET: "too-short" })), /at least 32 bytes/);
});
