"""flask-smorest Blueprint with one decorator for authentication and role checks.

`@blp.auth(roles)` authenticates before arguments are parsed (an anonymous caller gets
401, not a validation error), checks the role, and documents the security requirement
and the 401/403 responses in the OpenAPI spec.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from copy import deepcopy
from functools import wraps
from typing import Any

import flask_smorest
from flask import request
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict
from werkzeug.routing import IntegerConverter

from backend.auth.access import authenticate_request
from backend.auth.policy import require_role
from backend.errors import PermissionDenied

MAX_ID = 2**31 - 1  # ids are 32-bit integers on every database we support


class IdConverter(IntegerConverter):
    """`<id:name>`: a positive 32-bit id; anything else is a 404 before any query runs."""

    def __init__(self, url_map: Any) -> None:
        super().__init__(url_map, min=1, max=MAX_ID)


def id_param_schema(_converter: IdConverter) -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": MAX_ID}


class Parser(FlaskParser):
    """webargs' Flask parser, where the `files` location is a whole multipart/form-data
    body: its files and its text fields, validated by one schema (an upload with its
    client_uuid and recorded_at is one request, documented as one request body)."""

    def load_files(self, req: Any, schema: Any) -> Any:
        return self._makeproxy(CombinedMultiDict([req.files, req.form]), schema)


def created_or_replay(result: tuple[Any, bool]) -> Any:
    """A view's answer to an idempotent create: 201 with the new record, or 200 with the
    original when the request was a replay (same client_uuid)."""
    record, created = result
    return record if created else (record, 200)


def upload_limit(max_bytes: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Raise this view's request size limit (the app's default is small) before the body
    is parsed; werkzeug answers a larger body with 413 without reading it."""

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            request.max_content_length = max_bytes
            return func(*args, **kwargs)

        return wrapper

    return decorator


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    ARGUMENTS_PARSER = Parser()

    def _document_pagination_metadata(self, spec: Any, resp_doc: dict[str, Any]) -> None:
        # The header carries JSON text; document it as the string it is on the wire.
        resp_doc.setdefault("headers", {})[self.PAGINATION_HEADER_NAME] = {
            "description": "Pagination metadata as JSON: total, total_pages, first_page, last_page, page, "
            "previous_page, next_page",
            "schema": {"type": "string"},
        }

    def auth(
        self, roles: Iterable[str] | None = None, *, patient: bool = False
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Require a staff token with one of `roles`, or (patient=True) a patient token."""
        role_set = frozenset(roles) if roles is not None else None
        who = "the patient app" if patient else "staff: " + ", ".join(sorted(role_set or ()))

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            @wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                actor = authenticate_request()
                if patient:
                    if actor.kind != "participant":
                        raise PermissionDenied("This route is for the patient app.")
                elif role_set is not None:
                    require_role(actor, role_set)  # type: ignore[arg-type]
                return func(*args, **kwargs)

            apidoc = deepcopy(getattr(wrapper, "_apidoc", {}))
            manual = apidoc.setdefault("manual_doc", {})
            manual["security"] = [{"bearerAuth": []}]
            manual["description"] = (manual.get("description", "") + f"\n\nFor {who}.").strip()
            wrapper._apidoc = apidoc  # type: ignore[attr-defined]
            wrapped = self.alt_response(401, response="UNAUTHORIZED")(wrapper)
            documented: Callable[..., Any] = self.alt_response(403, response="FORBIDDEN")(wrapped)
            return documented

        return decorator
