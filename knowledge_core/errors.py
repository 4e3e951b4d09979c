"""One root exception and a few precise ones; the API and MCP server map each to an answer."""

from typing import Any


class KnowledgeBaseError(Exception):
    """Root of every error the edge raises on purpose."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        # PostgREST's error body ({code, message, details, hint}) when the refusal came from it.
        self.upstream: dict[str, Any] | None = None


class InvalidInput(KnowledgeBaseError):
    status = 422
    code = "invalid_input"


class InvalidToken(KnowledgeBaseError):
    """No token, or one that fails signature, expiry, audience or role checks."""

    status = 401
    code = "invalid_token"


class Forbidden(KnowledgeBaseError):
    """The database refused: RLS or a privilege (the token is valid but lacks the right)."""

    status = 403
    code = "forbidden"


class NotFound(KnowledgeBaseError):
    status = 404
    code = "not_found"


class Conflict(KnowledgeBaseError):
    status = 409
    code = "conflict"


class PayloadTooLarge(KnowledgeBaseError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(KnowledgeBaseError):
    status = 415
    code = "unsupported_type"


class FileRejected(KnowledgeBaseError):
    """A file that cannot become text; `code` names why (encrypted_pdf, zip_bomb, no_text_layer,
    ...) and `status` is 413 for limits, 422 for the rest."""

    def __init__(self, message: str, *, code: str, status: int = 422) -> None:
        super().__init__(message, field="file")
        self.code = code
        self.status = status


class RateLimited(KnowledgeBaseError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(KnowledgeBaseError):
    """A dependency (database, PostgREST, embedder) cannot be reached; retry later."""

    status = 503
    code = "unavailable"

    def __init__(self, message: str, *, service: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.service = service
        self.retry_after = retry_after
