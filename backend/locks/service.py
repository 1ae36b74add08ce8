"""Freeze, lock and release a participant's data, and refuse writes to what is locked.

The rules (the "trial sync" issue): an admin freezes or locks a participant's data, all
of it or one visit's, with a reason; frozen data may be changed by admins only, locked
data by nobody, until an admin releases the lock with a reason. The data of a visit is
every record of the participant whose study day (its local date − day 0) falls in that
visit's inclusive window in the study's current protocol. Every write path of clinical
data calls `ensure_writable` before it writes; the trial sync reads `locked_scopes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.audit.service import record_audit, record_change, record_staff_read, snapshot
from backend.core.actor import Actor, require_role
from backend.core.bulk import among
from backend.errors import Conflict, Locked, NotFound, ValidationFailed
from backend.locks.models import DataLock, LockLevel
from backend.participants.models import Participant
from backend.participants.scope import participant_in_scope
from backend.participants.signals import participant_changing
from backend.staff.models import StaffRole
from backend.staff.roles import MANAGE_LOCKS
from backend.studies.service import current_protocol
from backend.studies.timeline import study_day

# ---------------------------------------------------------------- set, release, list


def set_lock(session: Session, actor: Actor, participant_id: int, data: dict[str, Any], now: datetime) -> DataLock:
    """Freeze or lock a participant's data, whole or one visit's, with a reason (audited).

    If that scope already has an active lock of the other level, it is released with the
    same reason and the new one replaces it; one of the same level is a conflict (409).
    """
    require_role(actor, MANAGE_LOCKS)
    participant = participant_in_scope(session, actor, participant_id)
    visit_code: str | None = data.get("visit_code")
    level: LockLevel = data["level"]
    reason: str = data["reason"]
    window: tuple[int, int] | tuple[None, None] = (None, None)
    if visit_code is not None:
        window = _check_visit(session, participant, visit_code)
    current = _active_lock(session, participant.id, visit_code)
    if current is not None and current.level == level:
        raise Conflict(f"{_scope_name(participant, visit_code)} is already {level.value} (data lock {current.id}).")
    lock = DataLock(
        participant_id=participant.id,
        visit_code=visit_code,
        window_start_day=window[0],
        window_end_day=window[1],
        level=level,
        reason=reason,
        set_at=now,
        set_by_id=actor.id,
        replaces_id=current.id if current is not None else None,
    )
    try:
        if current is not None:
            _release(session, actor, participant, current, reason, now)
        session.add(lock)
        session.flush()
    except IntegrityError:  # another admin set a lock on this scope a moment ago
        session.rollback()
        raise Conflict(f"{_scope_name(participant, visit_code)} was locked by someone else a moment ago.") from None
    record_audit(
        session,
        actor,
        "data_lock.set",
        lock,
        after=snapshot(lock),
        reason=reason,
        participant_id=participant.id,
        now=now,
    )
    session.commit()
    return lock


def release_lock(
    session: Session, actor: Actor, participant_id: int, lock_id: int, reason: str, now: datetime
) -> DataLock:
    """Release an active freeze or lock, with a reason (audited); the row stays as history."""
    require_role(actor, MANAGE_LOCKS)
    participant = participant_in_scope(session, actor, participant_id)
    lock = session.scalar(select(DataLock).where(DataLock.id == lock_id, DataLock.participant_id == participant.id))
    if lock is None:
        raise NotFound(f"No data lock {lock_id}.")
    if not lock.is_active:
        raise Conflict(f"Data lock {lock_id} was already released.")
    _release(session, actor, participant, lock, reason, now)
    session.commit()
    return lock


def _release(
    session: Session, actor: Actor, participant: Participant, lock: DataLock, reason: str, now: datetime
) -> None:
    before = snapshot(lock)
    # Only if still active: of two admins releasing (or re-levelling) at once, one wins and
    # the other is told, instead of overwriting who released it and why.
    released = session.execute(
        update(DataLock)
        .where(DataLock.id == lock.id, DataLock.released_at.is_(None))
        .values(released_at=now, released_by_id=actor.id, release_reason=reason)
        .execution_options(synchronize_session=False)
    )
    if released.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise Conflict(f"Data lock {lock.id} was released by someone else a moment ago; look again.")
    session.refresh(lock)  # the row as released (this frees the scope's "active" slot)
    record_change(
        session, actor, "data_lock.release", lock, before, reason=reason, participant_id=participant.id, now=now
    )


def locks_query(
    session: Session, actor: Actor, participant_id: int, filters: dict[str, Any], now: datetime
) -> Select[DataLock]:
    """A participant's locks, newest first (released ones too unless asked); a staff read is logged."""
    participant = participant_in_scope(session, actor, participant_id)
    record_staff_read(session, actor, "data_locks", participant.id, now)
    query = select(DataLock).where(DataLock.participant_id == participant.id)
    if filters.get("active_only"):
        query = query.where(DataLock.released_at.is_(None))
    return query.order_by(DataLock.set_at.desc(), DataLock.id.desc())


def _check_visit(session: Session, participant: Participant, visit_code: str) -> tuple[int, int]:
    """The visit's window in the current protocol, checked to exist."""
    visits = {visit.code: visit for visit in current_protocol(session, participant.study_id).visits}
    codes = list(visits)
    if visit_code not in codes:
        message = f"{visit_code!r} is not a visit of the study's protocol ({', '.join(codes)})."
        raise ValidationFailed(message, errors={"json": {"visit_code": [message]}})
    if participant.day0_date is None:
        # Without day 0 no record has a study day, so a visit lock would cover nothing.
        message = "The participant's day 0 is not known yet, so no record belongs to a visit; lock the participant."
        raise ValidationFailed(message, errors={"json": {"visit_code": [message]}})
    return visits[visit_code].start_day, visits[visit_code].end_day


def _active_lock(session: Session, participant_id: int, visit_code: str | None) -> DataLock | None:
    scope = DataLock.visit_code.is_(None) if visit_code is None else DataLock.visit_code == visit_code
    return session.scalar(
        select(DataLock).where(DataLock.participant_id == participant_id, DataLock.released_at.is_(None), scope)
    )


# ---------------------------------------------------------------- enforcement


def ensure_writable(session: Session, actor: Actor, participant: Participant, *days: date) -> None:
    """Refuse (423 Locked) a write to `participant`'s data of the local `days` given (for a
    pain score its diary date, for an amputation the date it occurred, ...; no day: the
    participant's own record). A lock of the whole participant covers every day, a visit's
    lock the days in its window. Locked: nobody may write. Frozen: admins only.

    Callers check, in this order: scope (404, so nothing leaks), replay (a replay returns
    the original: it writes nothing), validation (422/409: it fixes the day), then this."""
    active = _active_locks(session, participant)
    if not active:
        return
    covering = [row for row in active if row.visit_code is None]
    by_visit = [row for row in active if row.visit_code is not None]
    if by_visit and days and participant.day0_date is not None:
        study_days = {study_day(participant.day0_date, day) for day in days}
        windows: dict[str | None, tuple[int, int]] = {
            visit.code: (visit.start_day, visit.end_day)
            for visit in current_protocol(session, participant.study_id).visits
        }
        for row in by_visit:
            # The window as it was when the lock was set (older rows: the current one's).
            if row.window_start_day is not None and row.window_end_day is not None:
                start, end = row.window_start_day, row.window_end_day
            else:
                start, end = windows.get(row.visit_code, (1, 0))
            if any(day is not None and start <= day <= end for day in study_days):
                covering.append(row)
    _refuse(actor, participant, covering)


@participant_changing.connect
def _refuse_locked_participant_changes(
    participant: Participant, *, session: Session, actor: Actor, every_visit: bool
) -> None:
    """A change to the participant's record is a write to their data: refused like any
    other, and while any lock is active when it reaches every visit."""
    ensure_writable(session, actor, participant)
    if every_visit:
        ensure_study_days_movable(session, actor, participant)


def ensure_study_days_movable(session: Session, actor: Actor, participant: Participant) -> None:
    """Refuse (423) a change of day 0 while any lock is active: every record's study day
    moves, so records would move into or out of a locked visit's window."""
    _refuse(actor, participant, _active_locks(session, participant))


def _active_locks(session: Session, participant: Participant) -> list[DataLock]:
    return list(
        session.scalars(
            select(DataLock).where(DataLock.participant_id == participant.id, DataLock.released_at.is_(None))
        )
    )


def _refuse(actor: Actor, participant: Participant, covering: Sequence[DataLock]) -> None:
    if not covering:
        return
    locked = [row for row in covering if row.level == LockLevel.LOCKED]
    row = (locked or list(covering))[0]
    scope = _scope_name(participant, row.visit_code)
    errors = {"lock": {"id": row.id, "visit_code": row.visit_code, "level": row.level.value}}
    if locked:
        raise Locked(f"{scope} is locked (data lock {row.id}): its data can no longer be changed.", errors=errors)
    if actor.is_staff and actor.role == StaffRole.ADMIN:
        return
    raise Locked(f"{scope} is frozen (data lock {row.id}): only a study admin may change its data.", errors=errors)


def _scope_name(participant: Participant, visit_code: str | None) -> str:
    if visit_code is None:
        return f"Participant {participant.subject_code}"
    return f"Visit {visit_code} of participant {participant.subject_code}"


# ---------------------------------------------------------------- for the trial sync


def locked_scopes(
    session: Session, participant_ids: Sequence[int], set_before: datetime | None = None
) -> dict[int, frozenset[str | None]]:
    """For each of `participant_ids` with an active lock of level `locked` (frozen ones do
    not count), the visit codes locked; None in the set means the whole participant.
    Participants without such a lock are absent. One query, whatever the number of ids.
    `set_before`: only locks set by then (the sync writes a scope once after its lock)."""
    if not participant_ids:
        return {}
    query = select(DataLock.participant_id, DataLock.visit_code).where(
        among(session, DataLock.participant_id, sorted(set(participant_ids))),
        DataLock.released_at.is_(None),
        DataLock.level == LockLevel.LOCKED,
    )
    if set_before is not None:
        query = query.where(DataLock.set_at <= set_before)
    rows = session.execute(query)
    scopes: dict[int, set[str | None]] = {}
    for participant_id, visit_code in rows:
        scopes.setdefault(participant_id, set()).add(visit_code)
    return {participant_id: frozenset(codes) for participant_id, codes in scopes.items()}
