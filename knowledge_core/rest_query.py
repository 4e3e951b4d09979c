"""A function's arguments as a GET query string, so a read replica may answer the call.

PostgREST reads each argument of a GET call from the query string as text and casts it to the
parameter's type. The one large argument is the query vector: pgvector parses each component with
`strtof`, so a vector is a list of float32 values, and the shortest text that parses back to each
of them (what orjson writes for a float32 array) is exact. Measured for a 384-d unit vector
(docs/replicas.md, "Searches by GET"): 8.1 KB as the float64 text a POST body carries, 4.7 KB as
shortest float32, 4.3 KB with each `0.` before the point dropped (strtof reads `.019` as
`0.019`); Caddy refuses a request line and headers over ~20 KB, PostgREST over ~51 KB.
"""

import re
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any
from urllib.parse import quote

import numpy as np
import orjson

# A leading zero before the point, at the start of a component (after `[`, `,` or a sign).
_LEADING_ZERO = re.compile(rb"(?<=[\[,-])0\.")
# `,` is allowed in a query (RFC 3986 sub-delims) and kept for length; `[`, `]` and `+` (which
# some parsers read as a space) are percent-encoded.
_SAFE = ",-."


def vector_text(vector: "Sequence[float] | np.ndarray") -> str:
    """pgvector's text form, each component the shortest text of the float32 pgvector would
    make of the same value sent in a JSON body (so GET and POST search the same vector)."""
    wide = np.asarray(vector, dtype=np.float64)
    narrow = wide.astype(np.float32)
    _settle_ties(wide, narrow)
    text = orjson.dumps(narrow, option=orjson.OPT_SERIALIZE_NUMPY)
    return _LEADING_ZERO.sub(b".", text).decode()


def _settle_ties(wide: np.ndarray, narrow: np.ndarray) -> None:
    """Where a float64 lies exactly halfway between two float32s, numpy rounds it to even, but
    pgvector rounds the decimal text of it (the POST body), which may lie either side: do as
    `strtof` does with that text. Practically never happens; exact when it does."""
    up = np.nextafter(narrow, np.float32(np.inf)).astype(np.float64)
    down = np.nextafter(narrow, np.float32(-np.inf)).astype(np.float64)
    middle = narrow.astype(np.float64)
    ties = np.flatnonzero((wide == (middle + up) / 2) | (wide == (middle + down) / 2))
    for i in ties:
        narrow[i] = nearest_float32(orjson.dumps(float(wide[i])).decode())


def nearest_float32(decimal: str) -> np.float32:
    """The float32 nearest to a decimal's exact value, ties to even: what `strtof` returns."""
    exact = Fraction(decimal)
    guess = np.float32(float(exact))
    candidates = [
        np.nextafter(guess, np.float32(-np.inf)),
        guess,
        np.nextafter(guess, np.float32(np.inf)),
    ]
    return min(
        candidates,
        key=lambda c: (abs(Fraction(float(c)) - exact), int(c.view(np.uint32)) & 1),
    )


def query_value(value: Any) -> str:
    """One argument as PostgREST's GET reads it: vectors as above, JSON as JSON, else text."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | np.ndarray) and all(
        isinstance(x, float | int) for x in value
    ):
        return vector_text(value)
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def query_string(arguments: Mapping[str, Any]) -> str:
    """The arguments as `name=value&...`, percent-encoded; absent (None) ones are left out, so
    the function's default (null for every search filter) applies as with a JSON null."""
    return "&".join(
        f"{quote(name, safe='')}={quote(query_value(value), safe=_SAFE)}"
        for name, value in arguments.items()
        if value is not None
    )
