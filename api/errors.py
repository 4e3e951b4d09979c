"""Every failure as a precise JSON answer: never a 500 with internals, never a stack trace."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from knowledge_core.errors import InvalidToken, KnowledgeBaseError, RateLimited, Unavailable
from knowledge_core.logs import request_id_var

log = logging.getLogger("api.errors")
security_log = logging.getLogger("api.security")


class ErrorDetail(BaseModel):
    code: str = Field(examples=["invalid_input"])
    message: str = Field(examples=["body.title: String should have at most 500 characters"])
    request_id: str | None = None
    field: str | None = Field(default=None, description="The input at fault, when one is.")
    service: str | None = Field(default=None, description="503: the dependency that is down.")
    upstream: dict[str, Any] | None = Field(
        default=None, description="PostgREST's error {code, message, details, hint}, if it refused."
    )
    problems: list[dict[str, Any]] | None = None


class ErrorResponse(BaseModel):
    """Every error answer has this shape."""

    error: ErrorDetail


def described(text: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": text}


# Declared on every /v1 router, so clients (and schemathesis) know each status they may meet.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: described("The body could not be parsed (not UTF-8 or not JSON)."),
    401: described("No token, or an invalid, expired or revoked one (with WWW-Authenticate)."),
    403: described("The database refused: Row Level Security or the token's scope."),
    404: described("No such document or workspace, or not yours to see."),
    409: described("The change conflicts with what is stored."),
    413: described("The document or body is too large."),
    422: described("Invalid input; `field` names it."),
    429: described("Too many writes this minute (with Retry-After)."),
    503: described("PostgREST, the database or the embedder is unavailable (with Retry-After)."),
}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "request_id": request_id_var.get(),
            **{k: v for k, v in extra.items() if v is not None},
        }
    }


def _headers(error: KnowledgeBaseError) -> dict[str, str]:
    if isinstance(error, InvalidToken):
        description = error.message.replace('"', "'")
        return {
            "WWW-Authenticate": f'Bearer realm="knowledge-base", error="invalid_token", '
            f'error_description="{description}"'
        }
    if isinstance(error, RateLimited | Unavailable):
        return {"Retry-After": str(error.retry_after)}
    return {}


NO_TOKEN_MESSAGE = "an Authorization: Bearer <access token> header is required"  # noqa: S105 (a message, not a secret)


def token_refusal() -> tuple[int, dict[str, str], dict[str, Any]]:
    """Status, headers and body of the 401 for a request without a token: the middleware sends
    it before reading the body, the same answer the token check gives."""
    error = InvalidToken(NO_TOKEN_MESSAGE)
    return error.status, _headers(error), error_body(error.code, error.message)


async def knowledge_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, KnowledgeBaseError)
    if isinstance(error, InvalidToken):
        # A security event: who tried (address), where, and why; never the token itself.
        security_log.warning(
            "authentication refused",
            extra={
                "event": "auth_failure",
                "reason": error.message,
                "path": request.url.path,
                "client": request.client.host if request.client else None,
            },
        )
    elif isinstance(error, Unavailable):
        log.warning(
            "dependency unavailable", extra={"service": error.service, "reason": error.message}
        )
    upstream = None
    if error.upstream:
        upstream = {k: error.upstream.get(k) for k in ("code", "message", "details", "hint")}
    return JSONResponse(
        status_code=error.status,
        content=error_body(
            error.code,
            error.message,
            field=error.field,
            upstream=upstream,
            service=getattr(error, "service", None),
        ),
        headers=_headers(error),
    )


async def validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = [
        {"field": ".".join(str(part) for part in item["loc"]), "message": item["msg"]}
        for item in error.errors()
    ]
    first = problems[0] if problems else {"field": None, "message": "invalid request"}
    return JSONResponse(
        status_code=422,
        content=error_body(
            "invalid_input",
            f"{first['field']}: {first['message']}",
            field=first["field"],
            problems=problems,
        ),
    )


async def http_error(request: Request, error: Exception) -> JSONResponse:
    """Starlette's own refusals (unparsable body, unknown route, wrong method), in our shape."""
    assert isinstance(error, StarletteHTTPException)
    codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
    return JSONResponse(
        status_code=error.status_code,
        content=error_body(codes.get(error.status_code, "http_error"), str(error.detail)),
        headers=dict(error.headers or {}),
    )


async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
    log.error("unhandled error", exc_info=error)
    return JSONResponse(
        status_code=500, content=error_body("internal_error", "an internal error occurred")
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(KnowledgeBaseError, knowledge_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)
