"""Who may do what, under the name the packages above auth have imported it by.

The rules live lower, where the packages below auth can use them: role sets in
staff.roles, the role check in core.actor, participant scope in participants.scope. New code imports those.
"""

from __future__ import annotations

from backend.core.actor import require_role
from backend.participants.scope import can_reach, participant_in_scope, scope_participants
from backend.staff.roles import ALL_STAFF, MANAGE_LOCKS, MANAGE_PARTICIPANTS, READ_PARTICIPANTS, WITHDRAW_PARTICIPANTS

__all__ = [
    "ALL_STAFF",
    "MANAGE_LOCKS",
    "MANAGE_PARTICIPANTS",
    "READ_PARTICIPANTS",
    "WITHDRAW_PARTICIPANTS",
    "can_reach",
    "participant_in_scope",
    "require_role",
    "scope_participants",
]
