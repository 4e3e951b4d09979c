"""PostgREST, bound to the caller's own token, over one shared connection pool.

Every request carries the project's anon key as `apikey` (the gateway wants a project key) and the
caller's JWT as `Authorization`, so PostgREST switches to the caller's role and RLS decides. The
service-role key is never used here.

The client is aiohttp with orjson: under concurrency httpx spent more CPU per search than
PostgREST itself (README, "The edge's cost"), and every search sends 384 floats each way.

Reads may be answered by a read replica (GET requests, where the gateway sends them). So that a
caller always sees their own writes, every write's answer names its transaction
(`X-Kb-Write-Xid`); the caller's later reads carry it (`X-Kb-After-Xid`), a replica that has not
replayed it yet refuses with 412 `replica_behind`, and the read is sent again to the primary
(README, "Read your own writes").
"""

import asyncio
import contextlib
import json as stdlib_json
from collections import Counter, OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from yarl import URL

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
from knowledge_core.rest_query import query_string
from knowledge_core.settings import Settings
from knowledge_core.tokens import Caller

JSON_BODY = {"Content-Type": "application/json"}
READS = frozenset({"GET", "HEAD"})
# Callers whose last write this process remembers; past it, the least recent is forgotten (its
# reads may then meet a replica that has not replayed that write, for the replay lag).
WRITERS_KEPT = 100_000


class LastWrites:
    """Per user, the transaction id of their latest write through this process."""

    def __init__(self, kept: int = WRITERS_KEPT) -> None:
        self._kept = kept
        self._xids: OrderedDict[str, int] = OrderedDict()

    def remember(self, user_id: str, xid: int) -> None:
        self._xids[user_id] = max(xid, self._xids.get(user_id, 0))
        self._xids.move_to_end(user_id)
        if len(self._xids) > self._kept:
            self._xids.popitem(last=False)

    def last(self, user_id: str) -> int | None:
        return self._xids.get(user_id)


@dataclass(frozen=True)
class RestResponse:
    """What PostgREST answered: status, headers and the body, read in full."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    reason: str = ""

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None


class RestPool:
    """One HTTP connection pool to PostgREST for the whole process."""

    def __init__(self, settings: Settings) -> None:
        self.base_url = settings.rest_url
        self.read_url = settings.read_rest_url
        self._api_key = settings.supabase_anon_key.get_secret_value()
        self._timeout = aiohttp.ClientTimeout(
            total=settings.postgrest_timeout_seconds, sock_connect=3.0
        )
        self._session: aiohttp.ClientSession | None = None
        self.search_via_get = settings.search_via_get
        self.last_writes = LastWrites()
        # Reads answered, by who answered them (X-Kb-Served-By: primary / replica): what
        # SEARCH_VIA_GET and read-your-writes cost the primary, for operators and tests.
        self.reads_answered_by: Counter[str] = Counter()

    @property
    def session(self) -> aiohttp.ClientSession:
        """Made on first use, inside the running event loop (aiohttp binds a session to it)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"apikey": self._api_key},
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=100),
                # One session serves every caller: a cookie set in one caller's answer must never
                # ride along on another's request.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    def bind(self, caller: Caller, request_id: str | None = None) -> "CallerRest":
        return CallerRest(self, caller, request_id)

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        json: Any = None,
        timeout: float | None = None,
        query: str | None = None,
        primary: bool = False,
    ) -> RestResponse:
        """One request to PostgREST; a transport failure or time-out is Unavailable.

        Reads go to SUPABASE_READ_URL (a replica may answer) unless `primary`; the rest to
        SUPABASE_URL. `query`: a query string already encoded (rest_query), sent as it is."""
        data = None if json is None else _json_bytes(json)
        if data is not None:
            headers = {**JSON_BODY, **headers}
        base = self.read_url if method in READS and not primary else self.base_url
        if primary:
            # The local stack's gateway (and any that routes by method) reads the header.
            headers = {**headers, "X-Kb-Read-From": "primary"}
        url: str | URL = base + path
        if query is not None:
            url = URL(f"{base}{path}?{query}", encoded=True)
        try:
            async with self.session.request(
                method,
                url,
                headers=headers,
                params=params,
                data=data,
                timeout=aiohttp.ClientTimeout(total=timeout) if timeout else None,
            ) as response:
                body = await response.read()
                return RestResponse(response.status, response.headers, body, response.reason or "")
        except TimeoutError as error:
            raise Unavailable("PostgREST did not answer in time", service="postgrest") from error
        except aiohttp.ClientError as error:
            raise Unavailable("PostgREST cannot be reached", service="postgrest") from error

    async def ready(self) -> None:
        """Raise Unavailable unless PostgREST answers and has its database."""
        response = await self.request("HEAD", "/", headers={}, timeout=3.0)
        if response.status >= 500:
            raise Unavailable("PostgREST has no database connection", service="database")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            # Let the connector's transports close before the loop ends (aiohttp's advice).
            await asyncio.sleep(0)


class CallerRest:
    """PostgREST as one caller: their token on every request."""

    def __init__(self, pool: RestPool, caller: Caller, request_id: str | None):
        self._pool = pool
        self.caller = caller
        self._headers = {"Authorization": f"Bearer {caller.token}"}
        if request_id:
            self._headers["X-Request-Id"] = request_id

    async def rpc(self, function: str, arguments: dict[str, Any], *, writes: bool = True) -> Any:
        """Call a function by POST; `writes=False` for one that only reads (a search), whose
        refusal is not a refused write."""
        return await self._send("POST", f"/rpc/{function}", json=arguments, writes=writes)

    async def search(self, function: str, arguments: dict[str, Any]) -> Any:
        """Call a `stable` search function: by GET if SEARCH_VIA_GET (a replica may answer),
        else by POST (the primary).

        With GET, an argument that is None or an empty object is left out, so it takes the
        function's default: pass them only where that default is null or '{}'. A non-empty JSON
        object goes by POST: PostgREST 12 hands a GET argument to a jsonb parameter as a JSON
        string, not as the object (README, "Searches by GET")."""
        kept = {k: v for k, v in arguments.items() if v is not None and v != {}}
        if not self._pool.search_via_get or any(isinstance(v, dict) for v in kept.values()):
            return await self.rpc(function, arguments, writes=False)
        response = await self._request("GET", f"/rpc/{function}", query=query_string(kept))
        return response.json()

    async def select(
        self, table: str, params: dict[str, str], *, count: bool = False, primary: bool = False
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Rows of `table`; `primary` reads from the primary even where replicas serve reads
        (waiting for the worker's write, which no xid of this caller's names yet)."""
        headers = {"Prefer": "count=exact"} if count else {}
        response = await self._request(
            "GET", f"/{table}", params=params, headers=headers, primary=primary
        )
        total = None
        content_range = response.headers.get("content-range")
        if count and content_range is not None:
            tail = content_range.rsplit("/", 1)[-1]
            total = int(tail) if tail.isdigit() else None
        rows: list[dict[str, Any]] = response.json()
        return rows, total

    async def insert(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        rows = await self._send(
            "POST", f"/{table}", json=row, headers={"Prefer": "return=representation"}
        )
        return dict(rows[0])

    async def upsert(self, table: str, row: dict[str, Any], on_conflict: str) -> dict[str, Any]:
        """Insert, or update the row with the same `on_conflict` columns (what supabase-js's
        `upsert` sends): only the columns in `row` are written."""
        rows = await self._send(
            "POST",
            f"/{table}",
            params={"on_conflict": on_conflict},
            json=row,
            headers={"Prefer": "resolution=merge-duplicates,return=representation"},
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
        return response.json()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        json: Any = None,
        query: str | None = None,
        primary: bool = False,
        writes: bool = True,
    ) -> RestResponse:
        pool = self._pool
        sent = {**self._headers, **(headers or {})}
        read = method in READS
        after = pool.last_writes.last(self.caller.user_id) if read else None
        if after is not None:
            sent["X-Kb-After-Xid"] = str(after)
        response = await pool.request(
            method, path, headers=sent, params=params, json=json, query=query, primary=primary
        )
        # Behind the caller's write, or behind their sign-in (a new session): the primary.
        if read and _replica_behind(response):
            response = await pool.request(
                method, path, headers=sent, params=params, query=query, primary=True
            )
        if response.status >= 400:
            if writes and not read and _counts_as_refused_write(response.status, path):
                await self._count_refused_write()
            raise error_from_response(response)
        if read and not primary:  # (reads sent to the primary on purpose are not the question)
            pool.reads_answered_by[response.headers.get("x-kb-served-by", "unknown")] += 1
        else:
            written = response.headers.get("x-kb-write-xid", "")
            if written.isdigit():
                pool.last_writes.remember(self.caller.user_id, int(written))
        return response

    async def _count_refused_write(self) -> None:
        """Tell the database's write limit about a write it refused: the refusal rolled back
        its own count (95_request_checks.sql). Best effort: the caller gets the refusal either
        way, and a 429 here means the limit already holds."""
        with contextlib.suppress(Unavailable):
            await self._pool.request(
                "POST", "/rpc/count_refused_write", headers=self._headers, json={}
            )


def _counts_as_refused_write(status: int, path: str) -> bool:
    """A write the database refused or could not finish: counted against the caller's limit.
    Not 401 (no caller to count), nor 429 (the limit refused it, so it was counted)."""
    return status not in (401, 429) and path != "/rpc/count_refused_write"


def _json_bytes(value: Any) -> bytes:
    """JSON for PostgREST: orjson, or the standard library for what orjson cannot write (an
    integer past 64 bits in a caller's metadata, which jsonb keeps exactly)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return stdlib_json.dumps(value, ensure_ascii=False).encode()


def _replica_behind(response: RestResponse) -> bool:
    if response.status != 412:
        return False
    try:
        body = response.json()
    except orjson.JSONDecodeError:
        return False
    return isinstance(body, dict) and body.get("code") == "replica_behind"


def error_from_response(response: RestResponse) -> KnowledgeBaseError:
    """PostgREST's {code, message, details, hint} and status, as one of our errors."""
    try:
        body = response.json()
    except orjson.JSONDecodeError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = str(body.get("code") or "")
    message = str(body.get("message") or response.reason or f"HTTP {response.status}")
    status = response.status
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
