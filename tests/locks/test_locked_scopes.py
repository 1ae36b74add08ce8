"""locked_scopes, the trial sync's view of the locks: per participant asked about, the
visit codes under an active `locked` lock (None: the whole participant), in one query."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from backend.auth.service import staff_actor
from backend.core.actor import Actor
from backend.core.timeutil import utcnow
from backend.locks.models import LockLevel
from backend.locks.service import locked_scopes, release_lock, set_lock
from tests.conftest import CountQueries
from tests.factories import Factory
from tests.locks.helpers import DAY0


@pytest.fixture
def admin_actor(make: Factory) -> Actor:
    return staff_actor(make.staff("admin"), None)


def _lock(db: Session, actor: Actor, participant_id: int, level: str, visit_code: str | None = None) -> int:
    data = {"visit_code": visit_code, "level": LockLevel(level), "reason": "close-out"}
    return set_lock(db, actor, participant_id, data, utcnow()).id


def test_locked_scopes_reports_active_locked_visits_and_whole_participants(
    make: Factory, db: Session, admin_actor: Actor, count_queries: CountQueries
) -> None:
    day0 = DAY0.isoformat()
    whole, visits, frozen, released, upgraded, downgraded, quiet, not_asked = (
        make.participant(day0_date=day0) for _ in range(8)
    )
    _lock(db, admin_actor, whole.id, "locked")
    _lock(db, admin_actor, whole.id, "locked", "M1")
    _lock(db, admin_actor, visits.id, "locked", "BASELINE")
    _lock(db, admin_actor, visits.id, "locked", "M3")
    _lock(db, admin_actor, visits.id, "frozen", "M4")  # frozen does not count
    _lock(db, admin_actor, frozen.id, "frozen")
    _lock(db, admin_actor, frozen.id, "frozen", "M2")
    lock_id = _lock(db, admin_actor, released.id, "locked", "M2")
    release_lock(db, admin_actor, released.id, lock_id, "query reopened", utcnow())
    _lock(db, admin_actor, upgraded.id, "frozen", "M5")
    _lock(db, admin_actor, upgraded.id, "locked", "M5")  # replaces the freeze
    _lock(db, admin_actor, downgraded.id, "locked", "M6")
    _lock(db, admin_actor, downgraded.id, "frozen", "M6")  # replaces the lock
    _lock(db, admin_actor, not_asked.id, "locked")
    asked = [p.id for p in (whole, visits, frozen, released, upgraded, downgraded, quiet)]

    with count_queries() as counted:
        scopes = locked_scopes(db, [*asked, whole.id, 2_000_000])  # a repeat and an unknown id are harmless

    assert scopes == {
        whole.id: frozenset({None, "M1"}),
        visits.id: frozenset({"BASELINE", "M3"}),
        upgraded.id: frozenset({"M5"}),
    }
    assert len(counted.statements) == 1, counted.statements


def test_locked_scopes_of_nobody_asks_nothing(db: Session, count_queries: CountQueries) -> None:
    with count_queries() as counted:
        assert locked_scopes(db, []) == {}
    assert counted.statements == []
