"""Who is acting: every service call is attributed to an Actor (ALCOA+ "attributable")."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from backend.errors import PermissionDenied


@dataclass(frozen=True)
class Actor:
    kind: str  # "staff", "participant" or "system"
    id: int | None
    role: str  # a staff role, "patient", or "system"
    study_id: int | None = None
    # Sites a staff user may reach; None means every site of the study (admins).
    site_ids: frozenset[int] | None = frozenset()
    participant_id: int | None = None
    session_id: int | None = None
    request_id: str | None = None
    label: str | None = None

    @classmethod
    def system(cls, label: str, request_id: str | None = None, study_id: int | None = None) -> Actor:
        """An operator command or a job; `label` says which."""
        return cls(
            kind="system",
            id=None,
            role="system",
            study_id=study_id,
            site_ids=None,
            request_id=request_id or f"job-{uuid.uuid4().hex[:16]}",
            label=label,
        )

    @property
    def audit_id(self) -> str | None:
        if self.kind == "system":
            return self.label
        return None if self.id is None else str(self.id)

    @property
    def is_staff(self) -> bool:
        return self.kind == "staff"

    def can_reach_site(self, site_id: int) -> bool:
        return self.site_ids is None or site_id in self.site_ids


def require_role(actor: Actor, roles: Iterable[str]) -> None:
    """Refuse (403) an actor who is not staff with one of `roles` (staff.roles names them)."""
    if not actor.is_staff or actor.role not in roles:
        raise PermissionDenied("Your role may not do this.")
