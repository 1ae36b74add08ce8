"""Which staff roles may do what: the role sets that routes and services require
(core.actor.require_role checks them; a role that may not act at all gets 403). Which
participants a role reaches is participants.scope's concern.
"""

from __future__ import annotations

from backend.staff.models import StaffRole

ALL_STAFF = frozenset(StaffRole)
READ_PARTICIPANTS = ALL_STAFF
MANAGE_PARTICIPANTS = frozenset({StaffRole.ADMIN, StaffRole.INVESTIGATOR, StaffRole.NURSE})
WITHDRAW_PARTICIPANTS = frozenset({StaffRole.ADMIN, StaffRole.INVESTIGATOR})
# Freezing and locking data at close-out is for study-level staff only.
MANAGE_LOCKS = frozenset({StaffRole.ADMIN})
