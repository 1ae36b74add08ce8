"""The weekly sync: derive every participant's endpoint rows and bring the trial
database's `endpoint_value` table up to date in one transaction.

Idempotent (rows whose derived columns are equal are left alone, and a run that would
change nothing writes nothing), incremental (only participants whose records changed
since the last run's watermark, or whose visit windows moved on since, are derived
again), and crash-safe (everything, the run's ledger row included, commits together;
a failure leaves the previous state and the next run completes the work).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from backend.core.actor import Actor
from backend.errors import Conflict, NotFound
from backend.locks.service import locked_scopes
from backend.studies.document import StudyProtocol
from backend.studies.models import Study
from backend.studies.service import protocol_of
from backend.studies.timeline import date_of
from backend.trial_sync import derive, source
from backend.trial_sync.target import (
    DERIVED_COLUMNS,
    RUN_COUNTS,
    Changes,
    TrialTarget,
    TrialWrite,
    endpoint_value,
    sync_run,
)

log = logging.getLogger(__name__)

# Changes are looked for from this long before the previous run's watermark: a request
# that was still writing when that run read the database is picked up by the next one.
# Deriving a participant again is harmless (equal rows are not written).
OVERLAP = timedelta(minutes=10)
CHUNK = 500


@dataclass
class RunReport:
    mode: str  # full or incremental
    dry_run: bool
    run_id: int | None = None  # None when nothing was written
    participants: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    missing: int = 0
    removed: int = 0
    skipped_detail: list[str] = field(default_factory=list)
    previous_run_id: int | None = None

    @property
    def changes(self) -> int:
        return self.inserted + self.updated + self.removed

    def counts(self) -> str:
        return (
            f"{self.participants} participant(s) derived; inserted {self.inserted}, updated {self.updated}, "
            f"unchanged {self.unchanged}, removed {self.removed}, skipped {self.skipped} (locked), "
            f"missing {self.missing}"
        )

    def __str__(self) -> str:
        if self.dry_run:
            return f"dry run ({self.mode}), nothing written: {self.counts()}"
        if self.run_id is None:
            since = f" since run {self.previous_run_id}" if self.previous_run_id else ""
            return f"no changes{since} ({self.mode}): nothing written; {self.counts()}"
        return f"run {self.run_id} ({self.mode}): {self.counts()}"


class SyncBusy(Conflict):
    """Cron may start a run while the previous one is still going: refuse at once."""


class _NothingToWrite(Exception):
    """Rolls back the run's transaction: the ledger row alone is not worth a write."""


def run_trial_sync(
    session: Session,
    target: TrialTarget,
    now: datetime,
    *,
    full: bool = False,
    dry_run: bool = False,
    study_code: str | None = None,
    chunk_size: int = CHUNK,
    clock: Callable[[], datetime] | None = None,
) -> RunReport:
    """Bring the trial database up to date with the operational one as of `now`.

    The run reads the operational database in one snapshot (see `_read_in_one_snapshot`)
    and writes the trial database in one transaction."""
    _read_in_one_snapshot(session)
    studies = source.studies(session, study_code)
    if study_code is not None and not studies:
        raise NotFound(f"No study {study_code}.")
    report = RunReport(mode="full" if full else "incremental", dry_run=dry_run)
    try:
        with target.transaction() as trial:
            if not trial.try_lock():
                raise SyncBusy("Another trial sync is running against this trial database; nothing was done.")
            previous = trial.previous_run(study_code)
            if previous is None:
                report.mode = "full"
            else:
                report.previous_run_id = previous.id
            run_id = trial.open_run(report.mode, study_code, now)
            # The views cover every study's endpoints, whichever studies this run syncs.
            every = studies if study_code is None else source.studies(session, None)
            views_changed = trial.refresh_views([e for s in every for e in _protocol(s).endpoints])
            # A lock freezes a scope's rows from the run after the one that first saw it:
            # that first run writes them as the locked data stands (it cannot change since).
            lock_cutoff = previous.watermark - OVERLAP if previous is not None else None
            for study in studies:
                since = None if report.mode == "full" or previous is None else previous.watermark
                _sync_study(session, trial, study, now, since, lock_cutoff, run_id, report, chunk_size)
            if dry_run or (report.changes == 0 and report.skipped == 0 and not views_changed):
                raise _NothingToWrite
            counts = {name: getattr(report, name) for name in RUN_COUNTS}
            trial.close_run(run_id, counts, "\n".join(report.skipped_detail) or None, (clock or (lambda: now))())
        report.run_id = run_id
    except _NothingToWrite:
        pass
    log.info("trial sync: %s", report)
    return report


def _read_in_one_snapshot(session: Session) -> None:
    """Run the sync's reads in one REPEATABLE READ transaction on PostgreSQL, so every
    participant is derived from the same instant (SQLite's transactions are serialisable
    already). Only a session bound to an engine, with no transaction open, can be switched:
    a test's session lives in its savepoint, and a transaction that has read already
    cannot change its isolation."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql" or not isinstance(bind, Engine):
        return
    if session.in_transaction():
        raise RuntimeError("run_trial_sync needs a session without an open transaction (it sets the snapshot)")
    session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def _protocol(study: Study) -> StudyProtocol:
    protocol = study.current_protocol
    if protocol is None:  # a study is created together with its first protocol
        raise NotFound(f"Study {study.code} has no protocol.")
    return protocol_of(protocol)


def _all_windows(visits: Sequence[derive.Window], endpoints: Iterable[derive.Endpoint]) -> list[derive.Window]:
    return list(visits) + [w for e in endpoints if (w := e.own_window) is not None]


def _moved_on(person: source.Person, windows: Sequence[derive.Window], then: datetime, now: datetime) -> bool:
    """Whether any window opened, closed or grew a day between two run instants."""
    if person.day0 is None:
        return False
    before, after = person.today(then), person.today(now)
    if before == after:
        return False

    def clamp(day: int, w: derive.Window) -> int:
        return min(max(day, w.start_day - 1), w.end_day + 1)

    return any(clamp(before, w) != clamp(after, w) for w in windows)


def _sync_study(
    session: Session,
    trial: TrialWrite,
    study: Study,
    now: datetime,
    since: datetime | None,
    lock_cutoff: datetime | None,
    run_id: int,
    report: RunReport,
    chunk_size: int,
) -> None:
    protocol = _protocol(study)
    endpoints = list(protocol.endpoints)
    visits: list[derive.Window] = list(protocol.visits)
    windows = _all_windows(visits, endpoints)
    persons = source.people(session, study.id)
    if since is not None and not source.protocol_loaded_since(session, study.id, since - OVERLAP):
        changed = source.changed_since(session, study.id, since - OVERLAP)
        persons = [p for p in persons if p.id in changed or _moved_on(p, windows, since, now)]
    for start in range(0, len(persons), chunk_size):
        chunk = persons[start : start + chunk_size]
        with_day0 = [p for p in chunk if p.day0 is not None]
        inputs = source.subjects(session, with_day0, now)
        locked = locked_scopes(session, [p.id for p in chunk], lock_cutoff) if lock_cutoff is not None else {}
        wanted: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        for person in with_day0:
            for row in derive.derive(inputs[person.id], visits, endpoints):
                wanted[(person.subject_code, row.visit_code, row.endpoint_code, row.ulcer_label)] = _values(person, row)
        report.participants += len(chunk)
        existing = trial.current_rows(study.code, [p.subject_code for p in chunk])
        trial.apply(_diff(study.code, chunk, wanted, existing, locked, windows, visits, report), run_id, now)


def _values(person: source.Person, row: derive.Row) -> dict[str, Any]:
    assert person.day0 is not None
    return {
        "family": row.family,
        "value": row.value,
        "unit": row.unit,
        "n": row.n,
        "window_start_day": row.window_start_day,
        "window_end_day": row.window_end_day,
        "window_start_date": date_of(person.day0, row.window_start_day),
        "window_end_date": date_of(person.day0, row.window_end_day),
        "rule": row.rule,
        "rule_version": row.rule_version,
        "source_ids": json.dumps(list(row.source_ids)),
        "status": row.status,
        "missing_reason": row.missing_reason,
    }


def _is_locked(
    scopes: frozenset[str | None], visit_code: str, target_day: int | None, visits: Sequence[derive.Window]
) -> bool:
    """A pseudo-visit (e.g. DAY28) belongs to the visit whose window holds its target day;
    a row of a visit the protocol no longer has is covered by a whole-participant lock."""
    if None in scopes or visit_code in scopes:
        return True
    if target_day is None:
        return False
    return any(v.code in scopes and v.start_day <= target_day <= v.end_day for v in visits)


def _diff(
    study_code: str,
    chunk: Sequence[source.Person],
    wanted: dict[tuple[str, str, str, str], dict[str, Any]],
    rows: Iterable[Any],
    locked: dict[int, frozenset[str | None]],
    windows: Sequence[derive.Window],
    visits: Sequence[derive.Window],
    report: RunReport,
) -> Changes:
    target_day = {w.code: w.target_day for w in windows}
    codes = {p.subject_code: p for p in chunk}
    existing = {(r.subject_code, r.visit_code, r.endpoint_code, r.ulcer_label): r for r in rows}
    changes = Changes()
    skipped: dict[str, int] = {}
    for key in wanted.keys() | existing.keys():
        subject_code, visit_code = key[0], key[1]
        new, old = wanted.get(key), existing.get(key)
        scopes = locked.get(codes[subject_code].id)
        if scopes and _is_locked(scopes, visit_code, target_day.get(visit_code), visits):
            if new is None or old is None or any(new[c] != getattr(old, c) for c in DERIVED_COLUMNS):
                report.skipped += 1
                skipped[f"{subject_code} {visit_code}"] = skipped.get(f"{subject_code} {visit_code}", 0) + 1
            continue
        if new is not None and new["status"] == derive.MISSING:
            report.missing += 1
        if old is None:
            assert new is not None
            changes.inserts.append({"study_code": study_code, **dict(zip(_KEY, key, strict=True)), **new})
        elif new is None:
            changes.deletes.append(old.id)
        elif any(new[c] != getattr(old, c) for c in DERIVED_COLUMNS):
            changes.updates.append({"row_id": old.id, **new})
        else:
            report.unchanged += 1
    report.inserted += len(changes.inserts)
    report.updated += len(changes.updates)
    report.removed += len(changes.deletes)
    report.skipped_detail.extend(f"{where}: {n} row(s) locked" for where, n in sorted(skipped.items()))
    return changes


_KEY = ("subject_code", "visit_code", "endpoint_code", "ulcer_label")


def last_runs(target: Engine, study_code: str | None = None, limit: int = 10) -> list[dict[str, Any]]:
    query = select(sync_run).order_by(sync_run.c.id.desc()).limit(limit)
    if study_code is not None:
        query = query.where(sync_run.c.study_code.is_(None) | (sync_run.c.study_code == study_code))
    with target.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def row_counts(target: Engine) -> dict[str, int]:
    with target.connect() as conn:
        rows = conn.execute(select(endpoint_value.c.status, func.count()).group_by(endpoint_value.c.status))
        return {str(status): int(cast(int, count)) for status, count in rows}


def sync_runs(
    session: Session, target: Engine, actor: Actor, first: int, size: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of the runs that covered the actor's study (runs of every study, or of
    theirs), newest first, and how many there are."""
    study = session.get(Study, actor.study_id) if actor.study_id is not None else None
    if study is None:
        return [], 0
    scope = sync_run.c.study_code.is_(None) | (sync_run.c.study_code == study.code)
    with target.connect() as conn:
        total = int(conn.scalar(select(func.count()).select_from(sync_run).where(scope)) or 0)
        if first >= total:
            return [], total
        rows = conn.execute(select(sync_run).where(scope).order_by(sync_run.c.id.desc()).limit(size).offset(first))
        return [dict(r._mapping) for r in rows], total
