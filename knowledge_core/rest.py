"""PostgREST, bound to the caller's own token, over one shared connection pool.

Every request carries the project's anon key as `apikey` (the gateway wants a project key) and the
caller's JWT as `Authorization`, so PostgREST switches to the caller's role and RLS decides. The
service-role key is never used here.
"""

from typing import Any

import httpx

from knowledge_core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidToken,
    KnowledgeBaseError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unavailable,
)
from knowledge_core.settings import Settings
from knowledge_core.tokens import Caller


class RestPool:
    """One HTTP connection pool to PostgREST for the whole process."""

    def __init__(self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None):
        self.client = httpx.AsyncClient(
            base_url=settings.rest_url,
            headers={"apikey": settings.supabase_anon_key.get_secret_value()},
            timeout=httpx.Timeout(settings.postgrest_timeout_seconds, connect=3.0),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=50),
            transport=transport,
        )

    def bind(self, caller: Caller, request_id: str | None = None) -> "CallerRest":
        return CallerRest(self.client, caller, request_id)

    async def ready(self) -> None:
        """Raise Unavailable unless PostgREST answers and has its database."""
        try:
            response = await self.client.head("/", timeout=3.0)
        except httpx.TransportError as error:
            raise Unavailable("PostgREST cannot be reached", service="postgrest") from error
        if response.status_code >= 500:
            raise Unavailable("PostgREST has no database connection", service="database")

    async def aclose(self) -> None:
        await self.client.aclose()


class CallerRest:
    """PostgREST as one caller: their token on every request."""

    def __init__(self, client: httpx.AsyncClient, caller: Caller, request_id: str | None):
        self._client = client
        self.caller = caller
        self._headers = {"Authorization": f"Bearer {caller.token}"}
        if request_id:
            self._headers["X-Request-Id"] = request_id

    async def rpc(self, function: str, arguments: dict[str, Any]) -> Any:
        return await self._send("POST", f"/rpc/{function}", json=arguments)

    async def select(
        self, table: str, params: dict[str, str], *, count: bool = False
    ) -> tuple[list[dict[str, Any]], int | None]:
        headers = {"Prefer": "count=exact"} if count else {}
        response = await self._request("GET", f"/{table}", params=params, headers=headers)
        total = None
        if count and "content-range" in response.headers:
            tail = response.headers["content-range"].rsplit("/", 1)[-1]
            total = int(tail) if tail.isdigit() else None
        rows: list[dict[str, Any]] = response.json()
        return rows, total

    async def insert(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        rows = await self._send(
            "POST", f"/{table}", json=row, headers={"Prefer": "return=representation"}
        )
        return dict(rows[0])

    async def update(
        self, table: str, filters: dict[str, str], values: dict[str, Any]
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await self._send(
            "PATCH",
            f"/{table}",
            params=filters,
            json=values,
            headers={"Prefer": "return=representation"},
        )
        return rows

    async def delete(self, table: str, filters: dict[str, str]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await self._send(
            "DELETE", f"/{table}", params=filters, headers={"Prefer": "return=representation"}
        )
        return rows

    async def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._request(method, path, **kwargs)
        return response.json() if response.content else None

    async def _request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        try:
            response = await self._client.request(
                method, path, headers={**self._headers, **(headers or {})}, **kwargs
            )
        except httpx.TimeoutException as error:
            raise Unavailable("PostgREST did not answer in time", service="postgrest") from error
        except httpx.TransportError as error:
            raise Unavailable("PostgREST cannot be reached", service="postgrest") from error
        if response.status_code >= 400:
            raise error_from_response(response)
        return response


def error_from_response(response: httpx.Response) -> KnowledgeBaseError:
    """PostgREST's {code, message, details, hint} and status, as one of our errors."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = str(body.get("code") or "")
    message = str(body.get("message") or response.reason_phrase)
    status = response.status_code
    error: KnowledgeBaseError
    if status == 401:
        error = InvalidToken(message)
    elif status == 403:
        error = Forbidden(message)
    elif status == 404 and code == "PGRST202":
        # A missing function is a deployment fault (migrations not applied), not the caller's.
        error = Unavailable(message, service="database")
    elif status == 404 or code == "PGRST116":
        error = NotFound(message)
    elif status == 409:
        error = Conflict(message)
    elif status == 413:
        error = PayloadTooLarge(message)
    elif status == 429:
        retry = response.headers.get("retry-after", "1")
        error = RateLimited(message, retry_after=int(retry) if retry.isdigit() else 1)
    elif status < 500:
        error = InvalidInput(message)
    else:
        # PGRST0xx: PostgREST cannot reach or use its database.
        error = Unavailable(
            message, service="database" if code.startswith("PGRST0") else "postgrest"
        )
    error.upstream = body
    return error
