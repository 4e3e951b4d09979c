// Token minting shared by the tests (not a test file itself: Deno runs only *_test.ts).
// WebCrypto only, so the tests need no download.

import { base64UrlEncode } from "./jwt.ts";

export function encodeParts(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
): string {
  return `${base64UrlEncode(JSON.stringify(header))}.${base64UrlEncode(JSON.stringify(claims))}`;
}

/** A JWT signed with HMAC-SHA256 under any key bytes (the project secret, or an attacker's). */
export async function hmacSign(
  keyBytes: Uint8Array<ArrayBuffer>,
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    keyBytes,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const input = encodeParts(header, claims);
  const signature = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(input));
  return `${input}.${base64UrlEncode(new Uint8Array(signature))}`;
}
