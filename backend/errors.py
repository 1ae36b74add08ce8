"""Domain errors and the one JSON error envelope every failure uses.

Services raise `DomainError` subclasses and never think about HTTP; this module maps
them, werkzeug's HTTP errors (404, 405, 413, ...) and anything unexpected (500) to
`{code, status, message, errors, request_id}`. A 5xx body is generic on purpose.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, jsonify
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class DomainError(Exception):
    """A business rule refused the request; `status` is its HTTP status."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors
        self.headers = headers or {}


class AuthenticationError(DomainError):
    status = 401
    code = "unauthenticated"


class PermissionDenied(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Gone(DomainError):
    status = 410
    code = "gone"


class ValidationFailed(DomainError):
    status = 422
    code = "validation_failed"


class Locked(DomainError):
    status = 423
    code = "locked"


class TooManyRequests(DomainError):
    status = 429
    code = "too_many_requests"


class DatabaseUnavailable(DomainError):
    status = 503
    code = "database_unavailable"


def error_body(status: int, code: str, message: str, errors: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": code,
        "status": status,
        "message": message,
        "request_id": g.get("request_id"),
    }
    if errors:
        body["errors"] = errors
    return body


def _respond(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    response = jsonify(body)
    response.status_code = body["status"]
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _code_for(exc: HTTPException) -> str:
    name = (exc.name or "error").lower()
    return "".join(ch if ch.isalnum() else "_" for ch in name).strip("_")


def handle_http_exception(exc: HTTPException) -> Response:
    """Render werkzeug/flask-smorest HTTP errors (incl. webargs 422s) in the envelope."""
    status = exc.code or 500
    if status >= 500:
        return handle_unexpected(exc)
    data = getattr(exc, "data", None) or {}
    errors = data.get("messages") or data.get("errors")
    message = data.get("message") or exc.description or exc.name
    if errors and status in (400, 422):
        message = "The request is not valid; see errors for each field."
    headers = dict(data.get("headers") or {})
    if status == 405 and exc.get_response().headers.get("Allow"):
        headers["Allow"] = exc.get_response().headers["Allow"]
    return _respond(error_body(status, _code_for(exc), str(message), errors), headers)


def handle_domain_error(exc: DomainError) -> Response:
    return _respond(error_body(exc.status, exc.code, exc.message, exc.errors), exc.headers)


def handle_database_error(exc: DBAPIError) -> Response:
    """A lost database connection (a server restart, a killed backend) is a 503 the client
    may retry: SQLAlchemy has invalidated the pool, so the next request reconnects. So is a
    database that cannot be reached at all (refused, down): an OperationalError that came
    with no statement, from connecting. Any other database error is unexpected (500)."""
    unreachable = isinstance(exc, OperationalError) and exc.statement is None
    if not (exc.connection_invalidated or unreachable):
        return handle_unexpected(exc)
    log.warning("database unavailable (request_id=%s): %s", g.get("request_id"), type(exc.orig).__name__)
    unavailable = DatabaseUnavailable("The database is briefly unavailable; try again in a moment.")
    unavailable.headers["Retry-After"] = "1"
    return handle_domain_error(unavailable)


def handle_unexpected(exc: BaseException) -> Response:
    """Log the failure with its request id; tell the client nothing internal."""
    log.exception("unhandled error (request_id=%s)", g.get("request_id"))
    body = error_body(500, "internal_error", "An unexpected error occurred. Quote the request id when reporting it.")
    return _respond(body)


def init_app(app: Flask) -> None:
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(DBAPIError, handle_database_error)
    app.register_error_handler(Exception, handle_unexpected)
