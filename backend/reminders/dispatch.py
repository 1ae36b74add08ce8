"""`flask reminders dispatch`: plan what is due, claim it, send it, log what happened.

Safe to run every minute from cron on several machines at once:
- planning writes one row per (participant, kind, local date, attempt); the unique key
  turns a second planner's insert into a no-op;
- a row due at once is written already claimed by the planner (`sending`, its worker):
  the insert that wins the unique key owns it, so a freshly planned reminder costs one
  write before it is sent, not two. Rows due later, and retries, are claimed from the
  queue in one UPDATE (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, SQLite's single writer
  elsewhere). Either way the claim commits before anything is sent, so a row is handed to
  FCM at most once. A dispatcher killed mid-send leaves its rows in `sending`; they are
  closed as `interrupted`, never sent again;
- participants are read, planned and sent in chunks by id (keyset), so memory does not
  grow with the study and the first pushes leave before the last participants are planned.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from backend.core.actor import Actor
from backend.core.bulk import among, insert_rows
from backend.db import Base, begin_as_writer
from backend.diary.models import PainScore
from backend.participants.models import Participant, ParticipantStatus
from backend.reminders import schedule
from backend.reminders.models import (
    DeliveryOutcome,
    PushDelivery,
    PushDevice,
    Reminder,
    ReminderKind,
    ReminderSettings,
    ReminderStatus,
)
from backend.reminders.senders import MAX_BATCH, Push, Sender, SenderConfigError, SendResult
from backend.reminders.service import active_devices, retire_device
from backend.studies.service import assessment, current_protocol
from backend.tasks.service import study_week
from backend.ulcers.models import ReviewStatus, Ulcer, UlcerPhoto
from backend.walks.models import WalkTest

CHUNK = 500
STALE_CLAIM = timedelta(minutes=10)
MAX_TRIES = 6
FIRST_BACKOFF = timedelta(minutes=1)  # what FCM asks for after QUOTA_EXCEEDED
MAX_BACKOFF = timedelta(hours=1)


# Core, not the ORM: bulk statements over thousands of rows, nothing to track.
_reminders = Base.metadata.tables[Reminder.__tablename__]
_deliveries = Base.metadata.tables[PushDelivery.__tablename__]


@dataclass
class DispatchReport:
    planned: int = 0
    skipped: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    tokens_retired: int = 0

    def __str__(self) -> str:
        return ", ".join(f"{f.name.replace('_', ' ')} {getattr(self, f.name)}" for f in fields(self))


def dispatch_due_reminders(
    session: Session,
    sender: Sender,
    now: datetime,
    worker: str | None = None,
    clock: Callable[[], datetime] | None = None,
) -> DispatchReport:
    """One dispatcher run; raises SenderConfigError (after saving what was done) if the
    sender is misconfigured.

    `now` is when the run plans; `clock` (default: frozen at `now`) stamps each claim and
    each send, so a long run neither backdates its claims nor overstates a push's TTL.
    """
    clock = clock or (lambda: now)
    sender.check()  # before anything is claimed: a bad credential marks nothing
    worker = worker or f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    report = DispatchReport()
    _close_abandoned(session, now, report)
    for planned, recipients in _plan(session, now, report, claim=(worker, clock)):
        send_claimed(session, sender, planned, max(now, clock()), report, recipients)
    while batch := claim_due(session, max(now, clock()), worker):
        send_claimed(session, sender, batch, max(now, clock()), report)
    return report


def _close_abandoned(session: Session, now: datetime, report: DispatchReport) -> None:
    begin_as_writer(session)
    expired = session.execute(
        update(Reminder)
        .where(Reminder.status == ReminderStatus.PENDING, Reminder.expires_at <= now)
        .values(status=ReminderStatus.FAILED, reason="window_closed", next_try_at=None)
    )
    # At most once: a claim whose dispatcher died may or may not have reached FCM.
    interrupted = session.execute(
        update(Reminder)
        .where(Reminder.status == ReminderStatus.SENDING, Reminder.claimed_at < now - STALE_CLAIM)
        .values(status=ReminderStatus.FAILED, reason="interrupted", next_try_at=None)
    )
    report.failed += expired.rowcount + interrupted.rowcount  # type: ignore[attr-defined]
    session.commit()


# -- planning -----------------------------------------------------------------------------


def plan_reminders(session: Session, now: datetime, report: DispatchReport) -> None:
    """Write the reminder rows that are due by `now` as pending, claimed by nobody."""
    for _ in _plan(session, now, report):
        pass


# What send_claimed needs of a claimed row, whether the planner or claim_due claimed it.
_CLAIMED = (
    _reminders.c.id,
    _reminders.c.participant_id,
    _reminders.c.kind,
    _reminders.c.local_date,
    _reminders.c.attempt,
    _reminders.c.expires_at,
    _reminders.c.tries,
    _reminders.c.claimed_by,
)


def _plan(
    session: Session, now: datetime, report: DispatchReport, claim: tuple[str, Callable[[], datetime]] | None = None
) -> Iterator[tuple[Sequence[Any], _Recipients]]:
    """Plan a chunk of participants at a time. With `claim` (worker, clock), the rows to
    send are written claimed by that worker and yielded, chunk by chunk, once committed,
    with what the planner read of their recipients."""
    last_id = 0
    while people := _read_chunk(session, last_id):
        worker, claimed_at = (claim[0], max(now, claim[1]())) if claim else (None, None)
        mine, recipients = _plan_chunk(session, people, now, report, worker, claimed_at)
        if mine:
            yield mine, recipients
        last_id = people[-1].id


def _read_chunk(session: Session, after_id: int) -> Sequence[Any]:
    """The next CHUNK active participants by id; their reads and inserts are one transaction."""
    begin_as_writer(session)
    return session.execute(
        select(
            Participant.id,
            Participant.study_id,
            Participant.timezone,
            Participant.day0_date,
            Participant.enrolled_at,
            Participant.language,
            Participant.status,
        )
        .where(Participant.status == ParticipantStatus.ACTIVE, Participant.id > after_id)
        .order_by(Participant.id)
        .limit(CHUNK)
    ).all()


def _plan_chunk(
    session: Session,
    people: Sequence[Any],
    now: datetime,
    report: DispatchReport,
    worker: str | None,
    claimed_at: datetime | None,
) -> tuple[list[Any], _Recipients]:
    """Write the chunk's due rows and commit; the rows claimed for `worker` come back,
    with the chunk's recipients (read once here, for planning and for sending)."""
    first, last = people[0].id, people[-1].id
    recipients = _Recipients(
        _devices(session, PushDevice.participant_id.between(first, last), now),
        {p.id: p for p in people},
        _settings(session, ReminderSettings.participant_id.between(first, last)),
    )
    rows = [_row(d, now, worker, claimed_at) for d in _decide(session, people, recipients, now)]
    inserted: Sequence[Any] = []
    if rows:
        # A row another dispatcher planned first stays its (and its claim); ours come back.
        returning = [*_CLAIMED, _reminders.c.status]
        inserted = insert_rows(session, _reminders, rows, ignore_duplicates=True, returning=returning)
        report.planned += sum(1 for row in inserted if row.status != ReminderStatus.SKIPPED)
        report.skipped += sum(1 for row in inserted if row.status == ReminderStatus.SKIPPED)
    session.commit()  # claimed before anything is sent: never sent twice
    return [row for row in inserted if row.status == ReminderStatus.SENDING], recipients


@dataclass
class _Recipients:
    """What sending needs of a batch's participants: their active devices (by device id),
    the participants (id, study_id, language, status, timezone) and their own settings."""

    devices: dict[int, list[Any]]
    people: dict[int, Any]
    settings: dict[int, ReminderSettings]


def _devices(session: Session, which: Any, now: datetime) -> dict[int, list[Any]]:
    devices: dict[int, list[Any]] = defaultdict(list)
    for d in session.execute(
        active_devices(now)
        .with_only_columns(PushDevice.id, PushDevice.participant_id, PushDevice.fcm_token, PushDevice.platform)
        .where(which)
        .order_by(PushDevice.id)
    ):
        devices[d.participant_id].append(d)
    return dict(devices)


def _settings(session: Session, which: Any) -> dict[int, ReminderSettings]:
    return {s.participant_id: s for s in session.scalars(select(ReminderSettings).where(which))}


def _decide(
    session: Session, people: Sequence[Any], recipients: _Recipients, now: datetime
) -> Iterator[tuple[int, schedule.Decision]]:
    """Plan every participant of the chunk from a handful of set-based reads."""
    # The chunk's ids are consecutive in id order: a range, not a 500-item IN list (whose
    # placeholders cost more to render and parse than the query does to run). Rows of
    # participants in the range who are not active are read too, and ignored.
    first, last = people[0].id, people[-1].id
    since = now.date() - timedelta(days=9)  # covers yesterday's study week in any zone
    settings, with_device = recipients.settings, recipients.devices
    existing: dict[int, dict[tuple[ReminderKind, date, int], ReminderStatus]] = defaultdict(dict)
    for r in session.execute(
        select(Reminder.participant_id, Reminder.kind, Reminder.local_date, Reminder.attempt, Reminder.status).where(
            Reminder.participant_id.between(first, last), Reminder.local_date >= now.date() - timedelta(days=2)
        )
    ):
        existing[r.participant_id][(r.kind, r.local_date, r.attempt)] = r.status
    diary: dict[int, set[date]] = defaultdict(set)
    for pid, day in session.execute(
        select(PainScore.participant_id, PainScore.diary_date).where(
            PainScore.participant_id.between(first, last),
            PainScore.superseded_at.is_(None),
            PainScore.diary_date >= now.date() - timedelta(days=2),
        )
    ):
        diary[pid].add(day)
    walks: dict[int, list[tuple[date, str]]] = defaultdict(list)
    for pid, day, walk_method in session.execute(
        select(WalkTest.participant_id, WalkTest.local_date, WalkTest.method).where(
            WalkTest.participant_id.between(first, last), WalkTest.superseded_at.is_(None), WalkTest.local_date >= since
        )
    ):
        walks[pid].append((day, walk_method.value))
    open_ulcers: dict[int, set[int]] = defaultdict(set)
    for pid, ulcer_id in session.execute(
        select(Ulcer.participant_id, Ulcer.id).where(
            Ulcer.participant_id.between(first, last), Ulcer.healed_on.is_(None)
        )
    ):
        open_ulcers[pid].add(ulcer_id)
    photos: dict[int, list[tuple[int, date]]] = defaultdict(list)
    for pid, ulcer_id, day in session.execute(
        select(UlcerPhoto.participant_id, UlcerPhoto.ulcer_id, UlcerPhoto.local_date).where(
            UlcerPhoto.participant_id.between(first, last),
            UlcerPhoto.local_date >= since,
            UlcerPhoto.review_status != ReviewStatus.REJECTED,  # a rejected photo has to be taken again
        )
    ):
        photos[pid].append((ulcer_id, day))

    studies: dict[int, tuple[dict[str, Any], str | None, schedule.Preferences]] = {}
    for p in people:
        if p.study_id not in studies:
            protocol = current_protocol(session, p.study_id).document
            walk = assessment(protocol, "six_minute_walk")
            studies[p.study_id] = (
                protocol,
                walk.get("method") if walk else None,
                schedule.preferences(protocol["reminders"], None),
            )
        protocol, method, study_prefs = studies[p.study_id]
        assert p.enrolled_at is not None  # active participants are enrolled
        who = schedule.Who(p.id, p.timezone, p.day0_date, p.enrolled_at.astimezone(ZoneInfo(p.timezone)).date())
        progress = schedule.Progress(
            diary_days=diary[p.id],
            walk_weeks_done={
                study_week(p.day0_date, day)[0] for day, m in walks[p.id] if method is None or m == method
            },
            photo_weeks_done=_photo_weeks_done(p.day0_date, open_ulcers[p.id], photos[p.id]),
            has_open_ulcers=bool(open_ulcers[p.id]),
        )
        own = settings.get(p.id)
        prefs = study_prefs if own is None else schedule.preferences(protocol["reminders"], own)
        for decision in schedule.plan(who, protocol, prefs, now, progress, existing[p.id], p.id in with_device):
            yield p.id, decision


def _photo_weeks_done(day0: date | None, open_ulcers: set[int], photos: list[tuple[int, date]]) -> set[date]:
    """Weeks in which every ulcer that is still open has a photo."""
    by_week: dict[date, set[int]] = defaultdict(set)
    for ulcer_id, day in photos:
        by_week[study_week(day0, day)[0]].add(ulcer_id)
    return {week for week, ulcers in by_week.items() if open_ulcers <= ulcers}


def _row(
    item: tuple[int, schedule.Decision], now: datetime, worker: str | None, claimed_at: datetime | None
) -> dict[str, Any]:
    participant_id, decision = item
    slot = decision.slot
    pending = decision.status == ReminderStatus.PENDING
    claimed = pending and worker is not None
    return {
        "participant_id": participant_id,
        "kind": slot.kind,
        "local_date": slot.local_date,
        "attempt": slot.attempt,
        "due_at": slot.due_at,
        "expires_at": slot.expires_at,
        "status": ReminderStatus.SENDING if claimed else decision.status,
        "reason": decision.reason,
        "tries": 1 if claimed else 0,
        "next_try_at": slot.due_at if pending else None,
        "claimed_at": claimed_at if claimed else None,
        "claimed_by": worker if claimed else None,
        "created_at": now,
    }


# -- claiming and sending -------------------------------------------------------------------


def claim_due(session: Session, now: datetime, worker: str) -> Sequence[Any]:
    begin_as_writer(session)
    # A CTE, not `id IN (subquery)`: PostgreSQL may re-evaluate an IN subquery when it
    # meets rows another dispatcher locked, and then claim more than CHUNK rows.
    picked = (
        select(Reminder.id)
        .where(Reminder.status == ReminderStatus.PENDING, Reminder.next_try_at <= now)
        .order_by(Reminder.next_try_at, Reminder.id)
        .limit(CHUNK)
        .with_for_update(skip_locked=True)
        .cte("picked")
        .prefix_with("MATERIALIZED")
    )
    claimed = session.execute(
        update(Reminder)
        .where(Reminder.id == picked.c.id, Reminder.status == ReminderStatus.PENDING)
        .values(status=ReminderStatus.SENDING, claimed_at=now, claimed_by=worker, tries=Reminder.tries + 1)
        .returning(*_CLAIMED),
        execution_options={"synchronize_session": False},
    ).all()
    session.commit()  # claimed before anything is sent: never sent twice
    return claimed


@dataclass(frozen=True)
class _Outgoing:
    reminder_id: int
    push_device_id: int
    push: Push


def send_claimed(
    session: Session,
    sender: Sender,
    batch: Sequence[Any],
    now: datetime,
    report: DispatchReport,
    recipients: _Recipients | None = None,
) -> None:
    """Send a claimed batch and record the outcome. `recipients`: what the planner of this
    batch read a moment ago in this run; else (retries, releases) read here."""
    if recipients is None:
        ids = list({r.participant_id for r in batch})
        people_read = session.execute(
            select(
                Participant.id, Participant.study_id, Participant.language, Participant.status, Participant.timezone
            ).where(among(session, Participant.id, ids))
        )
        recipients = _Recipients(
            _devices(session, among(session, PushDevice.participant_id, ids), now),
            {p.id: p for p in people_read},
            _settings(session, among(session, ReminderSettings.participant_id, ids)),
        )
    devices, people, settings = recipients.devices, recipients.people, recipients.settings
    studies = {people[r.participant_id].study_id for r in batch}
    protocols = {sid: current_protocol(session, sid).document for sid in studies}
    study_prefs = {sid: schedule.preferences(document["reminders"], None) for sid, document in protocols.items()}
    finished: dict[int, dict[str, Any]] = {}  # reminder id -> its new state
    outgoing: list[_Outgoing] = []
    for reminder in batch:
        ttl = int((reminder.expires_at - now).total_seconds())
        targets = devices.get(reminder.participant_id, [])
        person = people[reminder.participant_id]
        if person.status != ParticipantStatus.ACTIVE:  # withdrawn or completed since it was planned
            finished[reminder.id] = _state(reminder, ReminderStatus.FAILED, "not_active")
            continue
        if ttl <= 0 or not targets:
            finished[reminder.id] = _state(
                reminder, ReminderStatus.FAILED, "window_closed" if ttl <= 0 else "no_device"
            )
            continue
        own = settings.get(person.id)
        prefs = (
            study_prefs[person.study_id]
            if own is None
            else schedule.preferences(protocols[person.study_id]["reminders"], own)
        )
        if prefs.is_quiet(now.astimezone(ZoneInfo(person.timezone)).time()):
            # A late run, a retry or a release that lands in quiet hours waits for their end
            # (a nudge is not worth it by then); never pushed while the participant sleeps.
            finished[reminder.id] = _quiet(reminder, prefs, person.timezone, now)
            continue
        text = render(protocols[person.study_id], reminder.kind, person.language)
        if text is None:  # a newer protocol version dropped this kind since it was planned
            finished[reminder.id] = _state(reminder, ReminderStatus.FAILED, "no_text")
            continue
        title, body = text
        data = {
            "kind": reminder.kind.value,
            "local_date": reminder.local_date.isoformat(),
            "reminder_id": str(reminder.id),
            "deep_link": f"limbtrack://tasks/{reminder.kind.value}?date={reminder.local_date.isoformat()}",
        }
        for device in targets:
            push = Push(
                token=device.fcm_token,
                platform=device.platform.value,
                title=title,
                body=body,
                data=data,
                collapse_key=reminder.kind.value,
                ttl_seconds=ttl,
                expires_at=reminder.expires_at,
            )
            outgoing.append(_Outgoing(reminder.id, device.id, push))

    session.commit()  # end the reads: no transaction stays open while FCM is called
    results: list[tuple[_Outgoing, SendResult]] = []
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

    _record(session, sender.name, batch, finished, results, now, report, stopped=fatal is not None)
    if fatal is not None:
        raise fatal


def _quiet(reminder: Any, prefs: schedule.Preferences, tz: str, now: datetime) -> dict[str, Any]:
    wake = schedule.quiet_end_after(now, prefs, tz)
    if reminder.attempt == 1 or wake >= reminder.expires_at:
        return _state(reminder, ReminderStatus.SKIPPED, "quiet_hours", release=True)
    return _state(reminder, ReminderStatus.PENDING, "quiet_hours", next_try_at=wake, release=True)


def _state(
    reminder: Any,
    status: ReminderStatus,
    reason: str | None = None,
    *,
    sent_at: datetime | None = None,
    next_try_at: datetime | None = None,
    release: bool = False,
) -> dict[str, Any]:
    """A claimed reminder's new state; `release` puts it back as if it was never claimed."""
    return {
        "b_id": reminder.id,
        "b_worker": reminder.claimed_by,
        "status": status,
        "reason": reason,
        "sent_at": sent_at,
        "next_try_at": next_try_at,
        "tries": reminder.tries - 1 if release else reminder.tries,
        "claimed_by": None if release else reminder.claimed_by,
    }


# Only while the claim is still ours: a run that took longer than STALE_CLAIM may have
# been closed as interrupted by another dispatcher, and that verdict stands.
_FINISH = (
    update(_reminders)
    .where(
        _reminders.c.id == bindparam("b_id"),
        _reminders.c.claimed_by == bindparam("b_worker"),
        _reminders.c.status == ReminderStatus.SENDING,
    )
    .values({name: bindparam(name) for name in ("status", "reason", "sent_at", "next_try_at", "tries", "claimed_by")})
)


def _record(
    session: Session,
    sender_name: str,
    batch: Sequence[Any],
    finished: dict[int, dict[str, Any]],
    results: list[tuple[_Outgoing, SendResult]],
    now: datetime,
    report: DispatchReport,
    stopped: bool = False,
) -> None:
    """Write the delivery log, the reminders' new states and retired tokens, in one commit.
    `stopped`: the run stops on a configuration error, so what was not sent is released."""
    begin_as_writer(session)
    by_reminder: dict[int, list[SendResult]] = defaultdict(list)
    for item, result in results:
        by_reminder[item.reminder_id].append(result)
    for reminder in batch:
        if reminder.id in finished:
            continue
        finished[reminder.id] = _outcome(reminder, by_reminder.get(reminder.id, []), now, stopped)

    if results:
        insert_rows(
            session,
            _deliveries,
            [
                {
                    "reminder_id": item.reminder_id,
                    "push_device_id": item.push_device_id,
                    "attempted_at": now,
                    "sender": sender_name,
                    "outcome": result.outcome,
                    "message_id": result.message_id,
                    "error_code": result.error_code,
                    "error_message": result.error_message,
                    "retry_after_seconds": result.retry_after_seconds,
                }
                for item, result in results
            ],
        )
    gone = {
        item.push_device_id: result.error_code
        for item, result in results
        if result.outcome == DeliveryOutcome.TOKEN_RETIRED
    }
    if gone:
        dispatcher = Actor.system("flask reminders dispatch")
        for device in session.scalars(
            select(PushDevice).where(among(session, PushDevice.id, list(gone)), PushDevice.retired_at.is_(None))
        ):
            retire_device(session, dispatcher, device, (gone[device.id] or "unregistered").lower(), now)
    report.tokens_retired += len(gone)
    sent = [state for state in finished.values() if state["status"] == ReminderStatus.SENT]
    others = [state for state in finished.values() if state["status"] != ReminderStatus.SENT]
    if sent:  # the usual case, one statement for the batch (all share worker and time)
        session.execute(
            update(_reminders)
            .where(
                among(session, _reminders.c.id, [state["b_id"] for state in sent]),
                _reminders.c.claimed_by == sent[0]["b_worker"],
                _reminders.c.status == ReminderStatus.SENDING,
            )
            .values(status=ReminderStatus.SENT, sent_at=now, reason=None, next_try_at=None)
        )
    if others:
        session.execute(_FINISH, others)
    for state in finished.values():
        status = state["status"]
        if status == ReminderStatus.SENT:
            report.sent += 1
        elif status == ReminderStatus.FAILED:
            report.failed += 1
        elif state["reason"] is not None:  # back to pending for a later try
            report.retrying += 1
    session.commit()


def _outcome(reminder: Any, results: list[SendResult], now: datetime, stopped: bool) -> dict[str, Any]:
    if any(r.outcome == DeliveryOutcome.SENT for r in results):
        return _state(reminder, ReminderStatus.SENT, sent_at=now)
    if stopped:
        # Not sent because the run stopped (some of its phones may not have been tried):
        # back to the queue, as if never claimed.
        return _state(reminder, ReminderStatus.PENDING, next_try_at=now, release=True)
    retry = [r for r in results if r.outcome == DeliveryOutcome.RETRY]
    reason = (retry or results)[0].error_code
    if not retry:
        return _state(reminder, ReminderStatus.FAILED, reason)
    wait = max(
        timedelta(seconds=max(r.retry_after_seconds or 0 for r in retry)),
        min(FIRST_BACKOFF * 2 ** (reminder.tries - 1), MAX_BACKOFF),
    )
    if reminder.tries >= MAX_TRIES or now + wait >= reminder.expires_at:
        return _state(reminder, ReminderStatus.FAILED, reason)
    return _state(reminder, ReminderStatus.PENDING, reason, next_try_at=now + wait)


def render(protocol: dict[str, Any], kind: ReminderKind, language: str) -> tuple[str, str] | None:
    """Title and body in the participant's language, else the protocol's default (English
    in the demo study); None if the protocol has no text for the kind."""
    texts = protocol["reminders"]["texts"].get(kind.value)
    if texts is None:
        return None
    message = texts.get(language) or texts[protocol["default_language"]]
    return message["title"], message["body"]
