"""The API gateway: what Kong does in front of PostgREST on Supabase, for the paths we need.

supabase-py and supabase-js build their REST URL as SUPABASE_URL + /rest/v1, so the stack needs a
gateway there. Like Supabase's, it requires a project API key (`apikey` header or query parameter,
the anon or service_role key), strips it, and passes everything else, the caller's Authorization
header included, to PostgREST unchanged. Authorization itself stays with PostgREST and Postgres.
"""

import argparse
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

REST_PREFIX = "/rest/v1"
MAX_BODY_BYTES = 64 * 1024 * 1024
# Hop-by-hop headers (RFC 9110 section 7.6.1) are not forwarded; host is the upstream's.
HOP_BY_HOP = {
    b"connection",
    b"keep-alive",
    b"proxy-authenticate",
    b"proxy-authorization",
    b"te",
    b"trailer",
    b"transfer-encoding",
    b"upgrade",
    b"host",
    b"content-length",
}
CORS_HEADERS = [
    (b"access-control-allow-origin", b"*"),
    (
        b"access-control-allow-headers",
        b"authorization, apikey, content-type, prefer, range, accept-profile, content-profile, "
        b"x-client-info, x-request-id",
    ),
    (b"access-control-allow-methods", b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
    (b"access-control-expose-headers", b"content-range, content-location, x-request-id"),
]


JWKS_PATH = "/auth/v1/.well-known/jwks.json"


class Gateway:
    def __init__(self, upstream: str, api_keys: set[str], jwks: bytes = b'{"keys": []}') -> None:
        self.api_keys = api_keys
        self.jwks = jwks
        self.client = httpx.AsyncClient(
            base_url=upstream,
            timeout=httpx.Timeout(60.0, connect=2.0),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=100),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path: str = scope["path"]
        if scope["method"] == "OPTIONS":
            await _respond(send, 204, b"")
        elif path == "/health":
            await _respond(send, 200, {"status": "ok"})
        elif path == JWKS_PATH:
            # Public, as on Supabase: the keys that verify user access tokens.
            await _respond(send, 200, self.jwks)
        elif path == REST_PREFIX or path.startswith(REST_PREFIX + "/"):
            await self._proxy_rest(scope, receive, send, path[len(REST_PREFIX) :] or "/")
        else:
            await _respond(send, 404, {"message": "no Route matched with those values"})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _proxy_rest(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        query = [
            (k, v) for k, v in parse_qsl(scope["query_string"].decode(), keep_blank_values=True)
        ]
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in HOP_BY_HOP]
        key = next((v.decode() for k, v in headers if k.lower() == b"apikey"), None)
        key = key or next((v for k, v in query if k == "apikey"), None)
        if key is None:
            await _respond(send, 401, {"message": "No API key found in request"})
            return
        if key not in self.api_keys:
            await _respond(send, 401, {"message": "Invalid API key"})
            return
        headers = [(k, v) for k, v in headers if k.lower() != b"apikey"]
        query = [(k, v) for k, v in query if k != "apikey"]

        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_BODY_BYTES:
                await _respond(send, 413, {"message": "Request body too large"})
                return
            if not message.get("more_body"):
                break

        try:
            upstream = await self.client.request(
                scope["method"],
                path + ("?" + urlencode(query) if query else ""),
                headers=headers,
                content=bytes(body),
            )
        except httpx.TransportError:
            await _respond(send, 503, {"message": "PostgREST is unavailable"})
            return
        response_headers = [(k, v) for k, v in upstream.headers.raw if k.lower() not in HOP_BY_HOP]
        await send(
            {
                "type": "http.response.start",
                "status": upstream.status_code,
                "headers": response_headers + CORS_HEADERS,
            }
        )
        await send({"type": "http.response.body", "body": upstream.content})


async def _respond(send: Send, status: int, body: dict[str, str] | bytes) -> None:
    """Answer from the gateway itself (JSON; bytes are sent as given)."""
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = list(CORS_HEADERS)
    if payload:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def main() -> None:
    parser = argparse.ArgumentParser(description="Local Supabase API gateway (/rest/v1).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="PostgREST base URL")
    args = parser.parse_args()
    # Keys come from the environment, not argv, so they do not show in `ps`.
    keys = {k for k in os.environ.get("KB_GATEWAY_API_KEYS", "").split(",") if k}
    jwks = os.environ.get("KB_GATEWAY_JWKS", '{"keys": []}').encode()
    uvicorn.run(
        Gateway(args.upstream, keys, jwks),
        host=args.host,
        port=args.port,
        log_level="warning",
        # Longer than any client pool keeps an idle connection (httpx: 5 s), so a client never
        # sends on a connection the server is closing at that moment.
        timeout_keep_alive=75,
        access_log=False,
    )


if __name__ == "__main__":
    main()
