"""Per-request plumbing: a request id on every log line and response, no caching of
participant data, and structured (JSON) logs."""

from __future__ import annotations

import json
import logging
import re
import uuid

from flask import Flask, Response, g, has_request_context, request

from backend.core.actor import Actor

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def current_actor() -> Actor:
    """The authenticated actor of this request (set by the route's auth decorator)."""
    return g.actor  # type: ignore[no-any-return]


def current_participant_id() -> int:
    """The participant whose app made this request (a route for the patient app)."""
    participant_id = current_actor().participant_id
    assert participant_id is not None, "not a patient route"
    return participant_id


def request_id() -> str | None:
    """The current request's id (from a sane X-Request-ID header, else generated)."""
    return g.get("request_id") if has_request_context() else None


def _assign_request_id() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex


def _finish(response: Response) -> Response:
    if g.get("request_id"):
        response.headers["X-Request-ID"] = g.request_id
    if request.path.startswith("/api/v1/"):
        # Every API response may carry participant data: never store it in a cache.
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
    return response


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request id; never request bodies."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def init_app(app: Flask) -> None:
    app.before_request(_assign_request_id)
    app.after_request(_finish)
