"""What every `kb` command shares: the API client, its errors and what they mean as exit codes,
the shared option types, and the progress bar."""

import argparse
import base64
import json
import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

import httpx

# Exit codes: the same meaning for every command (kb --help lists them).
OK = 0
PARTLY = 1  # some items failed (each named on stderr); the others were done
USAGE = 2  # a bad option or value (argparse's own code)
AUTH = 3  # no token, or the API refused it (401)
REFUSED = 4  # not allowed (403), not found (404), or the input is invalid (4xx)
UNAVAILABLE = 5  # the API, or a service behind it, cannot be reached or is down (5xx)

EXIT_CODES = """\
exit codes:
  0  done
  1  some items failed (each named on stderr); the others were done
  2  bad usage: an unknown option or a bad value
  3  not signed in: no token, or the API refused it
  4  refused: not allowed, not found, or invalid input
  5  the API or a service behind it is unreachable or unavailable
"""


@dataclass
class ApiError(Exception):
    """An answer of 400 or more (or none at all: status 0), in the API's own words."""

    status: int
    code: str
    message: str
    field: str | None = None
    local: bool = False  # found here (a missing file, a bad line), not answered by the API

    def __str__(self) -> str:
        where = f" ({self.field})" if self.field else ""
        status = f"{self.status} " if self.status and not self.local else ""
        return f"{status}{self.code}{where}: {self.message}"

    @property
    def exit_code(self) -> int:
        if self.status == 401:
            return AUTH
        if self.status == 0 or self.status >= 500 or self.status == 429:
            return UNAVAILABLE
        return REFUSED

    @property
    def fatal(self) -> bool:
        """Nothing else will work either: stop a many-item command at once."""
        return self.exit_code in (AUTH, UNAVAILABLE) and self.status != 429

    def as_json(self) -> dict[str, Any]:
        return {
            "status": None if self.local else self.status,
            "code": self.code,
            "message": self.message,
            "field": self.field,
        }


class Api:
    """The knowledge base's HTTP API as the token's user."""

    def __init__(self, base_url: str, token: str, timeout: float = 300.0) -> None:
        self.base_url = base_url
        self.token = token
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )

    def __enter__(self) -> "Api":
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as error:
            message = f"cannot reach the API at {self.base_url}: {error}"
            raise ApiError(0, "unreachable", message) from error
        if response.status_code >= 400:
            raise error_of(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.call(method, path, **kwargs).json()

    def pages(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Every document listed with `params`, page after page."""
        items: list[dict[str, Any]] = []
        offset: int | None = 0
        while offset is not None:
            page = self.json("GET", "/v1/documents", params={**params, "offset": offset})
            items += page["items"]
            offset = page["next_offset"]
        return items

    def wait_until_settled(
        self, document_id: str, bar: "ProgressBar | None" = None
    ) -> dict[str, Any]:
        """Follow a document's status until it is ready or failed (a 202 answer's promise)."""
        pause = 0.2
        while True:
            status: dict[str, Any] = self.json("GET", f"/v1/documents/{document_id}/status")
            if status["embedding_status"] != "pending":
                return status
            if bar is not None and status.get("passages_total"):
                bar.note(f"embedding {status['passages_embedded'] or 0}/{status['passages_total']}")
            time.sleep(pause)
            pause = min(pause * 1.5, 2.0)


def error_of(response: httpx.Response) -> ApiError:
    try:
        error = response.json()["error"]
        return ApiError(response.status_code, error["code"], error["message"], error.get("field"))
    except (ValueError, KeyError, TypeError):
        return ApiError(response.status_code, "http_error", response.text[:200])


def token_claims(token: str) -> dict[str, Any]:
    """The token's claims, read without checking its signature (the API checks it): who the
    token says its user is, for matching documents to their owner."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError) as error:
        raise ApiError(401, "invalid_token", "the access token is not a JWT") from error
    if not isinstance(claims, dict) or "sub" not in claims:
        raise ApiError(401, "invalid_token", "the access token names no user (sub)")
    return claims


class Bounded:
    """An option's type: a number within [minimum, maximum] (the core's limits), named in the
    error; tests read the bounds to compare the CLI with the other doors."""

    def __init__(self, kind: type[int] | type[float], minimum: float, maximum: float) -> None:
        self.kind = kind
        self.minimum = minimum
        self.maximum = maximum
        self.__name__ = kind.__name__  # argparse names the type in its messages

    def __call__(self, text: str) -> int | float:
        try:
            value = self.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not self.minimum <= value <= self.maximum:
            raise argparse.ArgumentTypeError(
                f"{text} is not between {self.minimum:g} and {self.maximum:g}"
            )
        return value


def json_object(text: str) -> dict[str, Any]:
    """An option's type: a JSON object (metadata)."""
    try:
        value = json.loads(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not JSON: {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError('must be a JSON object, e.g. \'{"lang": "en"}\'')
    return value


def emit(value: Any) -> None:
    """A command's answer for scripts (--json), on stdout."""
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def warn(message: str) -> None:
    print(f"kb: {message}", file=sys.stderr)


class ProgressBar:
    """A one-line progress bar on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self, total: int, label: str, stream: TextIO = sys.stderr) -> None:
        self.total = max(total, 1)
        self.label = label
        self.stream = stream
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.done = 0

    def update(self, done: int, note: str = "") -> None:
        self.done = done
        fraction = min(done / self.total, 1.0)
        if self.tty:
            filled = int(fraction * 30)
            bar = "#" * filled + "-" * (30 - filled)
            self.stream.write(f"\r{self.label} [{bar}] {done}/{self.total} {note[:40]:<40}")
            self.stream.flush()
        else:
            self.stream.write(f"{self.label}: {done}/{self.total} {note}\n")

    def note(self, note: str) -> None:
        """A word on the current item without moving the bar (terminals only)."""
        if self.tty:
            self.update(self.done, note)

    def say(self, message: str) -> None:
        """A line of its own above the bar."""
        self.stream.write(("\n" if self.tty else "") + message + "\n")

    def close(self) -> None:
        if self.tty:
            elapsed = time.monotonic() - self.started
            self.stream.write(f"  ({elapsed:.1f}s)\n")
