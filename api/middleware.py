"""Request ids, one log line per request, Prometheus metrics, and the body's gatekeeping.

Plain ASGI rather than BaseHTTPMiddleware: it adds no task per request on the hot path.

A body is refused before it costs anything: a request under /v1/ without a bearer token is
answered 401 before a byte of its body is read (FastAPI reads and parses a JSON body before
any dependency runs, the token check included); a declared length past the route's limit is
answered 413 at once; a body without a declared length (chunked) is counted as it arrives and
answered 413 the moment it passes the limit, before the rest is read.
"""

import json
import logging
import re
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body, token_refusal
from knowledge_core.logs import request_id_var, user_id_var

log = logging.getLogger("api.request")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "kb_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "kb_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )


class RequestContext:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        max_body_bytes: int,
        body_limits: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        # Paths with their own limit (file uploads), so JSON routes keep their tight one: keys
        # are regular expressions the whole path must match.
        self.body_limits = [(re.compile(k), v) for k, v in (body_limits or {}).items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode(errors="replace") for k, v in scope["headers"]}
        incoming = headers.get("x-request-id", "")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        request_id_var.set(request_id)
        user_id_var.set(None)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        length = headers.get("content-length", "")
        own = next((v for k, v in self.body_limits if k.fullmatch(scope["path"])), None)
        limit = self.max_body_bytes if own is None else own
        has_body = scope["method"] in ("POST", "PUT", "PATCH", "DELETE")
        try:
            if has_body and scope["path"].startswith("/v1/") and not _has_bearer(headers):
                status, refusal_headers, body = token_refusal()
                await _send_json(send_with_id, status, body, refusal_headers)
            elif length.isdigit() and int(length) > limit:
                await _too_large(send_with_id, limit)
            elif own is not None and not length.isdigit():
                # A file upload must say its size: a chunked body of unknown length would be
                # spooled whole by the form parser before any limit could refuse it.
                await _refuse(send_with_id, 411, "length_required", "send a Content-Length")
            elif has_body and not length.isdigit():
                received = await _read_at_most(receive, limit)
                if received is None:
                    await _too_large(send_with_id, limit)
                else:
                    await self.app(scope, _replay(received, receive), send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(elapsed)
            state: dict[str, Any] = scope.get("state", {})
            log.info(
                "request",
                extra={
                    "method": method,
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "user_id": state.get("user_id"),
                    "client": scope["client"][0] if scope.get("client") else None,
                },
            )


def _has_bearer(headers: dict[str, str]) -> bool:
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(credentials.strip())


async def _read_at_most(receive: Receive, limit: int) -> list[Message] | None:
    """The body's messages, or None as soon as more than `limit` bytes have arrived."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages  # the client went away: the app sees the disconnect
        size += len(message.get("body", b""))
        if size > limit:
            return None
        if not message.get("more_body", False):
            return messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive that hands over the messages already read, then the real one's."""
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


async def _too_large(send: Send, limit: int) -> None:
    await _refuse(send, 413, "payload_too_large", f"the request body is larger than {limit} bytes")


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    await _send_json(send, status, error_body(code, message), {})


async def _send_json(send: Send, status: int, body: Any, headers: dict[str, str]) -> None:
    encoded = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *encoded],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})
