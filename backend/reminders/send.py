"""Send a claimed batch: ask once more what is done, render each push, call the sender
with no transaction open, then hand the outcomes to `record`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.bulk import among
from backend.participants.models import Participant, ParticipantStatus
from backend.reminders import schedule
from backend.reminders.models import PushDevice, ReminderSettings, ReminderStatus
from backend.reminders.record import DispatchReport, Outgoing, record, state
from backend.reminders.senders import MAX_BATCH, Push, Sender, SenderConfigError, SendResult
from backend.reminders.service import active_devices
from backend.studies.document import StudyProtocol
from backend.studies.service import current_protocol
from backend.tasks.progress import WALK, Progress, Which, read_progress


@dataclass
class Recipients:
    """What sending needs of a batch's participants: their active devices, the participants
    (id, study_id, language, status, timezone, day0_date), their own settings and what they
    have done."""

    devices: dict[int, list[Any]]
    people: dict[int, Any]
    settings: dict[int, ReminderSettings]
    progress: dict[int, Progress]
    protocols: dict[int, StudyProtocol]  # by study id


def read_recipients(
    session: Session, people: Sequence[Any], which: Which, now: datetime, since: date, weeks_since: date
) -> Recipients:
    """Read the recipients `which(participant_id column)` selects; `people` are their rows."""
    devices: dict[int, list[Any]] = defaultdict(list)
    for d in session.execute(
        active_devices(now)
        .with_only_columns(PushDevice.id, PushDevice.participant_id, PushDevice.fcm_token, PushDevice.platform)
        .where(which(PushDevice.participant_id))
        .order_by(PushDevice.id)
    ):
        devices[d.participant_id].append(d)
    by_id = {p.id: p for p in people}
    protocols = {sid: current_protocol(session, sid) for sid in {p.study_id for p in people}}
    methods = {sid: walk.method if (walk := protocol.assessment(WALK)) else None for sid, protocol in protocols.items()}
    progress = read_progress(
        session,
        {p.id: p.day0_date for p in people},
        which,
        since,
        weeks_since,
        walk_method=lambda pid: methods[by_id[pid].study_id],
    )
    settings = {
        s.participant_id: s
        for s in session.scalars(select(ReminderSettings).where(which(ReminderSettings.participant_id)))
    }
    return Recipients(dict(devices), by_id, settings, progress, protocols)


def _batch_recipients(session: Session, batch: Sequence[Any], now: datetime) -> Recipients:
    ids = list({r.participant_id for r in batch})
    people = session.execute(
        select(
            Participant.id,
            Participant.study_id,
            Participant.language,
            Participant.status,
            Participant.timezone,
            Participant.day0_date,
        ).where(among(session, Participant.id, ids))
    ).all()
    first_day = min(r.local_date for r in batch)
    return read_recipients(session, people, lambda column: among(session, column, ids), now, first_day, first_day)


def send_claimed(
    session: Session,
    sender: Sender,
    batch: Sequence[Any],
    now: datetime,
    report: DispatchReport,
    recipients: Recipients | None = None,
) -> None:
    """Send a claimed batch and record the outcome. `recipients`: what the planner of this
    batch read a moment ago in this run; else (retries, rows held over the quiet hours,
    releases) read here, so a task done since the row was planned is not reminded."""
    if recipients is None:
        recipients = _batch_recipients(session, batch, now)
    finished: dict[int, dict[str, Any]] = {}  # reminder id -> its new state
    outgoing: list[Outgoing] = []
    for reminder in batch:
        verdict = _verdict(reminder, recipients, now)
        if isinstance(verdict, dict):
            finished[reminder.id] = verdict
        else:
            outgoing.extend(verdict)

    session.commit()  # end the reads: no transaction stays open while FCM is called
    results: list[tuple[Outgoing, SendResult]] = []
    fatal: SenderConfigError | None = None
    for start in range(0, len(outgoing), MAX_BATCH):
        chunk = outgoing[start : start + MAX_BATCH]
        try:
            sent = sender.send([o.push for o in chunk])
        except SenderConfigError as exc:
            fatal = exc
            break
        results.extend(zip(chunk, sent, strict=True))
        bad = next((r for r in sent if r.fatal), None)
        if bad is not None:
            fatal = SenderConfigError(f"FCM refused the configuration ({bad.error_code}): {bad.error_message}")
            break

    record(session, sender.name, batch, finished, results, now, report, stopped=fatal is not None)
    if fatal is not None:
        raise fatal


def _verdict(reminder: Any, recipients: Recipients, now: datetime) -> dict[str, Any] | list[Outgoing]:
    """The reminder's final state if it is not to be sent, else its pushes (one per phone)."""
    ttl = int((reminder.expires_at - now).total_seconds())
    targets = recipients.devices.get(reminder.participant_id, [])
    person = recipients.people[reminder.participant_id]
    if person.status != ParticipantStatus.ACTIVE:  # withdrawn or completed since it was planned
        return state(reminder, ReminderStatus.FAILED, "not_active")
    if recipients.progress[person.id].done(reminder.kind.value, reminder.local_date):
        return state(reminder, ReminderStatus.SKIPPED, "already_done", release=True)
    if ttl <= 0 or not targets:
        return state(reminder, ReminderStatus.FAILED, "window_closed" if ttl <= 0 else "no_device")
    protocol = recipients.protocols[person.study_id]
    prefs = schedule.preferences(protocol.reminders, recipients.settings.get(person.id))
    if prefs.is_quiet(now.astimezone(ZoneInfo(person.timezone)).time()):
        # A late run, a retry or a release that lands in quiet hours waits for their end
        # (a nudge is not worth it by then); never pushed while the participant sleeps.
        return _quiet(reminder, prefs, person.timezone, now)
    text = protocol.text(reminder.kind.value, person.language)
    if text is None:  # a newer protocol version dropped this kind since it was planned
        return state(reminder, ReminderStatus.FAILED, "no_text")
    data = {
        "kind": reminder.kind.value,
        "local_date": reminder.local_date.isoformat(),
        "reminder_id": str(reminder.id),
        "deep_link": f"limbtrack://tasks/{reminder.kind.value}?date={reminder.local_date.isoformat()}",
    }
    return [
        Outgoing(
            reminder.id,
            device.id,
            Push(
                token=device.fcm_token,
                platform=device.platform.value,
                title=text.title,
                body=text.body,
                data=data,
                collapse_key=reminder.kind.value,
                ttl_seconds=ttl,
                expires_at=reminder.expires_at,
            ),
        )
        for device in targets
    ]


def _quiet(reminder: Any, prefs: schedule.Preferences, tz: str, now: datetime) -> dict[str, Any]:
    wake = schedule.quiet_end_after(now, prefs, tz)
    if reminder.attempt == 1 or wake >= reminder.expires_at:
        return state(reminder, ReminderStatus.SKIPPED, "quiet_hours", release=True)
    return state(reminder, ReminderStatus.PENDING, "quiet_hours", next_try_at=wake, release=True)
