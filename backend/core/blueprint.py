"""flask-smorest Blueprint with one decorator for authentication and role checks.

`@blp.auth(roles)` authenticates before arguments are parsed (an anonymous caller gets
401, not a validation error), checks the role, and documents the security requirement
and the 401/403 responses in the OpenAPI spec. Turning a bearer token into an Actor is
auth's job, a layer above this one: the web app hands its authenticator in
(`set_authenticator`), so that core imports nothing above it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from copy import deepcopy
from functools import wraps
from typing import Any

import flask_smorest
from flask import Flask, current_app, request
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict
from werkzeug.routing import IntegerConverter

from backend.core.actor import Actor, require_role
from backend.core.pagination import paginate_query
from backend.db import get_session
from backend.errors import PermissionDenied

MAX_ID = 2**31 - 1  # ids are 32-bit integers on every database we support
# The error responses a view may document by status (flask-smorest names them).
ERROR_RESPONSES = {
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT",
    410: "GONE",
    423: "LOCKED",
    429: "TOO_MANY_REQUESTS",
}
View = Callable[..., Any]
_AUTHENTICATOR = "limbtrack_authenticator"


def set_authenticator(app: Flask, authenticate: Callable[[], Actor]) -> None:
    """Make `authenticate` (the request's Actor, or raise 401) what `@blp.auth` calls."""
    app.extensions[_AUTHENTICATOR] = authenticate


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

    def listing(self, query_args: Any | None, schema: type[Any], *errors: int) -> Callable[[View], View]:
        """A paginated list of `schema`, filtered by `query_args` (if any); documents `errors`.
        The view returns the whole select; one page of it is fetched here."""

        def decorator(func: View) -> View:
            @wraps(func)
            def page(*args: Any, pagination_parameters: Any, **kwargs: Any) -> Any:
                return paginate_query(get_session(), func(*args, **kwargs), pagination_parameters)

            paged: View = self.paginate()(page)
            paged = self._errors(paged, errors)
            paged = self.response(200, schema(many=True))(paged)
            if query_args is None:
                return paged
            return self.arguments(query_args, location="query")(paged)  # type: ignore[no-any-return]

        return decorator

    def creates(self, body: Any, schema: Any, *errors: int) -> Callable[[View], View]:
        """An idempotent create from `body`: 201 with the new `schema`, or 200 with the
        original when the request is a replay (the same client_uuid); documents `errors`.
        The view returns the service's (record, created)."""

        def decorator(func: View) -> View:
            @wraps(func)
            def answer(*args: Any, **kwargs: Any) -> Any:
                return created_or_replay(func(*args, **kwargs))

            answered = self._errors(answer, errors)
            replay = "A replay of an earlier request (same client_uuid)"
            answered = self.alt_response(200, schema=schema, description=replay)(answered)
            answered = self.response(201, schema)(answered)
            return self.arguments(body)(answered)  # type: ignore[no-any-return]

        return decorator

    def takes(self, body: Any, schema: Any, *errors: int, status: int = 200) -> Callable[[View], View]:
        """A view that takes `body` and answers `status` with `schema`; documents `errors`."""

        def decorator(func: View) -> View:
            func = self._errors(func, errors)
            func = self.response(status, schema)(func)
            return self.arguments(body)(func)  # type: ignore[no-any-return]

        return decorator

    def _errors(self, func: View, statuses: Iterable[int]) -> View:
        for status in sorted(statuses, reverse=True):
            func = self.alt_response(status, response=ERROR_RESPONSES[status])(func)
        return func

    def auth(
        self, roles: Iterable[str] | None = None, *, patient: bool = False
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Require a staff token with one of `roles`, or (patient=True) a patient token."""
        role_set = frozenset(roles) if roles is not None else None
        who = "the patient app" if patient else "staff: " + ", ".join(sorted(role_set or ()))

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            @wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                actor = current_app.extensions[_AUTHENTICATOR]()
                if patient:
                    if actor.kind != "participant":
                        raise PermissionDenied("This route is for the patient app.")
                elif role_set is not None:
                    require_role(actor, role_set)
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
