"""Push devices and reminder settings (the patient's), and the staff's view of both."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from backend.audit.service import record_audit, record_staff_read, snapshot
from backend.auth.models import AuthSession
from backend.core.actor import Actor
from backend.core.timeutil import local_date
from backend.db import once_more_after_conflict
from backend.errors import NotFound, ValidationFailed
from backend.participants.models import Device, Participant
from backend.participants.scope import participant_in_scope
from backend.reminders import schedule
from backend.reminders.models import PushDelivery, PushDevice, Reminder, ReminderKind, ReminderSettings
from backend.studies.document import StudyProtocol
from backend.studies.service import current_protocol
from backend.tasks.progress import Progress
from backend.ulcers.models import Ulcer

MAX_HISTORY_DAYS = 92
DEVICE_MAX_AGE = timedelta(days=270)  # FCM expires tokens inactive this long


def active_devices(now: datetime) -> Select[PushDevice]:
    """Devices a push may go to: not retired, refreshed lately, their app not signed out."""
    return (
        select(PushDevice)
        .outerjoin(Device, PushDevice.device_id == Device.id)
        .where(
            PushDevice.retired_at.is_(None),
            PushDevice.refreshed_at > now - DEVICE_MAX_AGE,
            Device.revoked_at.is_(None),
        )
    )


def register_device(session: Session, actor: Actor, data: dict[str, Any], now: datetime) -> tuple[PushDevice, bool]:
    """Register or refresh the calling app's FCM token; True if a new row was made.

    A token is never shared: if it is registered to another participant (a phone handed
    on), that registration is retired first. A new token from the same app install
    replaces the old one, so a reminder is not sent to both.
    """
    # Another request may register the same token between our read and our insert.
    return once_more_after_conflict(session, lambda: _register_device(session, actor, data, now))


def _register_device(session: Session, actor: Actor, data: dict[str, Any], now: datetime) -> tuple[PushDevice, bool]:
    assert actor.participant_id is not None
    participant = participant_in_scope(session, actor, actor.participant_id)
    app_install = None
    if actor.session_id is not None:
        app_install = session.scalar(select(AuthSession.device_id).where(AuthSession.id == actor.session_id))
    current = session.scalar(
        select(PushDevice).where(PushDevice.fcm_token == data["fcm_token"], PushDevice.retired_at.is_(None))
    )
    if current is not None and current.participant_id == participant.id:
        before = snapshot(current)
        current.device_id = app_install
        current.platform = data["platform"]
        current.app_version = data["app_version"]
        current.locale = data["locale"]
        current.refreshed_at = now
        _retire_others(session, actor, participant, app_install, current.id, now)
        record_audit(
            session, actor, "push_device.refresh", current, before=before, after=snapshot(current),
            participant_id=participant.id, now=now,
        )  # fmt: skip
        session.commit()
        return current, False
    if current is not None:
        retire_device(session, actor, current, "reassigned", now)
    device = PushDevice(
        participant_id=participant.id,
        device_id=app_install,
        fcm_token=data["fcm_token"],
        platform=data["platform"],
        app_version=data["app_version"],
        locale=data["locale"],
        registered_at=now,
        refreshed_at=now,
    )
    session.add(device)
    session.flush()
    _retire_others(session, actor, participant, app_install, device.id, now)
    record_audit(
        session, actor, "push_device.register", device, after=snapshot(device), participant_id=participant.id, now=now
    )
    session.commit()
    return device, True


def _retire_others(
    session: Session, actor: Actor, participant: Participant, app_install: int | None, keep: int, now: datetime
) -> None:
    if app_install is None:
        return
    for old in session.scalars(
        select(PushDevice).where(
            PushDevice.participant_id == participant.id,
            PushDevice.device_id == app_install,
            PushDevice.retired_at.is_(None),
            PushDevice.id != keep,
        )
    ):
        retire_device(session, actor, old, "replaced", now)


def retire_device(session: Session, actor: Actor, device: PushDevice, reason: str, now: datetime) -> None:
    """Retire a registration, audited (the caller commits)."""
    before = snapshot(device)
    device.retired_at = now
    device.retired_reason = reason
    session.flush()  # before the partial unique index sees the same token again
    record_audit(
        session, actor, "push_device.retire", device, before=before, after=snapshot(device),
        reason=reason, participant_id=device.participant_id, now=now,
    )  # fmt: skip


def own_devices(session: Session, actor: Actor) -> list[PushDevice]:
    assert actor.participant_id is not None
    return list(
        session.scalars(
            select(PushDevice)
            .where(PushDevice.participant_id == actor.participant_id, PushDevice.retired_at.is_(None))
            .order_by(PushDevice.id)
        )
    )


def remove_device(session: Session, actor: Actor, device_id: int, now: datetime) -> None:
    """The patient turns push off on a phone (or signs out). Another's device is not found."""
    device = session.get(PushDevice, device_id)
    if device is None or device.participant_id != actor.participant_id or device.retired_at is not None:
        raise NotFound(f"No device {device_id}.")
    retire_device(session, actor, device, "removed", now)
    session.commit()


def participant_devices(session: Session, actor: Actor, participant_id: int, now: datetime) -> list[PushDevice]:
    """Every device a participant registered, retired ones too (they explain failed pushes)."""
    participant = participant_in_scope(session, actor, participant_id)
    record_staff_read(session, actor, "push_devices", participant.id, now)
    return list(
        session.scalars(
            select(PushDevice).where(PushDevice.participant_id == participant.id).order_by(PushDevice.id.desc())
        )
    )


def retire_stale_devices(session: Session, now: datetime) -> int:
    """Retire tokens not refreshed for 270 days (FCM drops them on Android; iOS is ours to prune)."""
    job = Actor.system("flask jobs run stale-devices")
    stale = session.scalars(
        select(PushDevice).where(PushDevice.retired_at.is_(None), PushDevice.refreshed_at <= now - DEVICE_MAX_AGE)
    ).all()
    for device in stale:
        retire_device(session, job, device, "stale", now)
    session.commit()
    return len(stale)


# -- settings ------------------------------------------------------------------------------


def _effective(session: Session, participant: Participant) -> tuple[schedule.Preferences, StudyProtocol]:
    protocol = current_protocol(session, participant.study_id)
    own = session.get(ReminderSettings, participant.id)
    return schedule.preferences(protocol.reminders, own), protocol


def settings_view(prefs: schedule.Preferences, protocol: StudyProtocol) -> dict[str, Any]:
    return {
        "diary_time": prefs.diary_time,
        "quiet_hours": {"start": prefs.quiet_start, "end": prefs.quiet_end},
        "opted_out": sorted(prefs.opted_out),
        "kinds": [k.value for k in ReminderKind if k.value in protocol.reminders.texts],
        "max_per_day": prefs.max_per_day,
        "follow_up_after_minutes": int(prefs.follow_up_after.total_seconds() // 60),
    }


def own_settings(session: Session, actor: Actor) -> dict[str, Any]:
    assert actor.participant_id is not None
    participant = participant_in_scope(session, actor, actor.participant_id)
    return settings_view(*_effective(session, participant))


def update_settings(session: Session, actor: Actor, data: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Replace the patient's own settings (null: the protocol default). Audited: an opt-out
    is a choice the study team must be able to see."""
    # Two phones may save the first settings at once: the later one wins.
    return once_more_after_conflict(session, lambda: _update_settings(session, actor, data, now))


def _update_settings(session: Session, actor: Actor, data: dict[str, Any], now: datetime) -> dict[str, Any]:
    assert actor.participant_id is not None
    participant = participant_in_scope(session, actor, actor.participant_id)
    protocol = current_protocol(session, participant.study_id)
    quiet = data.get("quiet_hours")
    own = session.get(ReminderSettings, participant.id)
    before = snapshot(own) if own else None
    if own is None:
        own = ReminderSettings(participant_id=participant.id)
        session.add(own)
    own.diary_time = data.get("diary_time")
    own.quiet_start = quiet["start"] if quiet else None
    own.quiet_end = quiet["end"] if quiet else None
    own.opted_out = sorted({kind.value for kind in data["opted_out"]})
    own.updated_at = now
    prefs = schedule.preferences(protocol.reminders, own)
    if prefs.is_quiet(prefs.diary_time):
        session.rollback()
        raise ValidationFailed(
            "The reminder time falls in your quiet hours; choose another time or other quiet hours.",
            errors={"json": {"diary_time": ["Falls in the quiet hours."]}},
        )
    session.flush()
    record_audit(
        session, actor, "reminder_settings.update", own, before=before, after=snapshot(own),
        participant_id=participant.id, now=now,
    )  # fmt: skip
    session.commit()
    return settings_view(prefs, protocol)


# -- the staff view ------------------------------------------------------------------------


def reminder_history(
    session: Session, actor: Actor, participant_id: int, filters: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """Settings, what is coming, and what was sent, failed or skipped (with why)."""
    participant = participant_in_scope(session, actor, participant_id)
    today = local_date(now, participant.timezone)
    last = filters.get("to_date") or today
    try:
        first = filters.get("from_date") or last - timedelta(days=13)
    except OverflowError:  # to_date in the first days of year 1
        raise _query_error("to_date", "to_date is out of range.") from None
    if first > last:
        raise _query_error("from_date", "from_date must not be after to_date.")
    if (last - first).days >= MAX_HISTORY_DAYS:
        raise _query_error("from_date", f"Ask for at most {MAX_HISTORY_DAYS} days at a time.")
    record_staff_read(session, actor, "reminders", participant.id, now)
    prefs, protocol = _effective(session, participant)
    reminders = session.scalars(
        select(Reminder)
        .where(Reminder.participant_id == participant.id, Reminder.local_date.between(first, last))
        .order_by(Reminder.due_at.desc(), Reminder.id.desc())
    ).all()
    deliveries: dict[int, list[dict[str, Any]]] = {r.id: [] for r in reminders}
    for delivery, token in session.execute(
        select(PushDelivery, PushDevice.fcm_token)
        .join(PushDevice, PushDelivery.push_device_id == PushDevice.id)
        .where(PushDelivery.reminder_id.in_(list(deliveries)))
        .order_by(PushDelivery.id)
    ):
        deliveries[delivery.reminder_id].append({"delivery": delivery, "token_preview": token[:8] + "…"})
    return {
        "participant_id": participant.id,
        "from_date": first,
        "to_date": last,
        "settings": settings_view(prefs, protocol),
        "upcoming": _upcoming(session, participant, protocol, prefs, today, now),
        "reminders": [{"reminder": r, "deliveries": deliveries[r.id]} for r in reminders],
    }


def _query_error(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, errors={"query": {name: [message]}})


def _upcoming(
    session: Session,
    participant: Participant,
    protocol: StudyProtocol,
    prefs: schedule.Preferences,
    today: date,
    now: datetime,
) -> list[dict[str, Any]]:
    """The reminders the schedule holds for the rest of today and tomorrow (whether each
    goes out still depends on the task being done by then)."""
    if participant.enrolled_at is None or participant.status.value != "active":
        return []
    who = schedule.Who(
        participant.id,
        participant.timezone,
        participant.day0_date,
        local_date(participant.enrolled_at, participant.timezone),
    )
    open_ulcer = session.scalar(
        select(Ulcer.id).where(Ulcer.participant_id == participant.id, Ulcer.healed_on.is_(None)).limit(1)
    )
    progress = Progress(open_ulcers=() if open_ulcer is None else (open_ulcer,))
    upcoming = []
    for day in (today, today + timedelta(days=1)):
        for slot in schedule.slots(who, protocol, prefs, day, progress):
            if slot.attempt == 0 and slot.due_at > now:
                upcoming.append(
                    {
                        "kind": slot.kind,
                        "local_date": slot.local_date,
                        "due_at": slot.due_at,
                        "expires_at": slot.expires_at,
                        "opted_out": slot.kind.value in prefs.opted_out,
                    }
                )
    return upcoming
