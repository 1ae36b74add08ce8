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

from backend.auth.access import authenticate_request
from backend.auth.policy import require_role
from backend.errors import PermissionDenied


class Blueprint(flask_smorest.Blueprint):
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
            return self.alt_response(403, response="FORBIDDEN")(wrapped)

        return decorator
