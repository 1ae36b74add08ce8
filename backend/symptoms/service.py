"""Record and read symptom reports; every report raises a flag, severe ones urgent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from backend.core.actor import Actor
from backend.db import once_more_after_conflict
from backend.entries import service as entries
from backend.entries.signals import entry_recorded
from backend.flags.models import FlagKind
from backend.flags.service import raise_flag
from backend.locks.service import ensure_writable
from backend.participants.models import Participant
from backend.symptoms.models import Severity, SymptomReport


def record_symptom(session: Session, actor: Actor, data: dict[str, Any], now: datetime) -> tuple[SymptomReport, bool]:
    """Record a symptom report of the signed-in patient and flag it for the nurse."""
    # The same client_uuid sent twice at once: the second insert breaks the unique
    # key; read again, and it is a replay (200), not a 500.
    return once_more_after_conflict(session, lambda: _record_symptom(session, actor, data, now))


def _record_symptom(session: Session, actor: Actor, data: dict[str, Any], now: datetime) -> tuple[SymptomReport, bool]:
    participant, existing, fingerprint = entries.own_new_entry(session, actor, SymptomReport, data)
    if existing is not None:
        return existing, False
    when = entries.time_entry(participant, data["recorded_at"], now)
    if data["onset_date"] > when.local_date:
        raise entries.field_error("onset_date", "The onset cannot be after the report.")
    ensure_writable(session, actor, participant, when.local_date)
    report = SymptomReport(
        **entries.provenance(actor, participant, when, data, fingerprint, now),
        category=data["category"],
        severity=data["severity"],
        onset_date=data["onset_date"],
        description=data["description"],
    )
    entries.record_entry(session, actor, participant, report, now)
    session.commit()
    return report, True


@entry_recorded.connect_via(SymptomReport)
def _flag(
    _sender: type[SymptomReport], *, session: Session, participant: Participant, entry: SymptomReport, now: datetime
) -> None:
    """Every report raises a flag for the nurse; a severe one an urgent flag."""
    raise_flag(
        session,
        participant,
        FlagKind.SYMPTOM,
        f"symptom_report:{entry.id}",
        now,
        detail={"category": entry.category.value, "severity": entry.severity.value, "late_entry": entry.late_entry},
        urgent=entry.severity == Severity.SEVERE,
        entity=("symptom_report", entry.id),
    )


def symptoms_query(
    session: Session, actor: Actor, participant_id: int, filters: dict[str, Any], now: datetime
) -> Select[SymptomReport]:
    """A participant's symptom reports, newest first."""
    query = entries.entries_query(session, actor, SymptomReport, participant_id, filters, now, equal=("severity",))
    return query.order_by(SymptomReport.recorded_at.desc(), SymptomReport.id.desc())


def correct_symptom(
    session: Session, actor: Actor, participant_id: int, report_id: int, data: dict[str, Any], now: datetime
) -> tuple[SymptomReport, bool]:
    """Staff correct a symptom report with a reason (e.g. the severity after a call)."""

    def onset_not_after_report(_original: SymptomReport, correction: SymptomReport) -> None:
        if correction.onset_date > correction.local_date:
            raise entries.field_error("onset_date", "The onset cannot be after the report.")

    correction, original, participant = entries.correct_entry(
        session, actor, SymptomReport, participant_id, report_id, data, now, check=onset_not_after_report
    )
    if original is None:
        return correction, False
    if correction.severity == Severity.SEVERE and original.severity != Severity.SEVERE:
        raise_flag(
            session,
            participant,
            FlagKind.SYMPTOM,
            f"symptom_report:{correction.id}",
            now,
            detail={"category": correction.category.value, "severity": "severe", "corrected": True},
            urgent=True,
            entity=("symptom_report", correction.id),
        )
    session.commit()
    return correction, True
