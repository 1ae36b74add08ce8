"""CSV exports of the trial database's endpoint rows for the data manager: one file per
endpoint family and a data dictionary, written whole or not at all."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from backend.studies.service import protocol_of
from backend.trial_sync import source
from backend.trial_sync.derive import RULE_TEXT
from backend.trial_sync.target import endpoint_value

COLUMNS: dict[str, str] = {
    "study_code": "Study code of the protocol",
    "subject_code": "Participant's subject code (no names or other identifiers)",
    "visit_code": "Visit of the protocol, or an endpoint's own pseudo-visit (e.g. DAY28)",
    "endpoint_code": "Endpoint code of the protocol (see endpoints.csv)",
    "ulcer_label": "The ulcer's label for per-ulcer endpoints; empty otherwise",
    "value": "Derived value, full precision; empty when missing",
    "unit": "Unit of the value",
    "n": "Number of source observations the value rests on (see the rule)",
    "window_start_day": "First study day of the window (study day = local date − local date of day 0)",
    "window_end_day": "Last study day of the window (inclusive)",
    "window_start_date": "Local date of window_start_day",
    "window_end_date": "Local date of window_end_day",
    "rule": "Derivation rule (see endpoints.csv)",
    "rule_version": "Version of the rule",
    "source_ids": "The operational records used, as table:id",
    "status": "final (window closed), provisional (window open) or missing",
    "missing_reason": "insufficient_data, no_measurement, withdrawn or baseline_zero",
    "sync_run_id": "The sync run that last wrote the row",
    "updated_at": "When that run wrote it (UTC)",
}
ENDPOINT_COLUMNS: dict[str, str] = {
    "study_code": "Study code of the protocol",
    "code": "Endpoint code, as in endpoint_code of the family files",
    "family": "The family file the endpoint's rows are in",
    "rule": "Derivation rule",
    "version": "Version of the rule",
    "unit": "Unit of the values",
    "per_ulcer": "Whether there is a row per ulcer",
    "params": "The rule's parameters from the protocol (JSON)",
    "definition": "What the rule computes",
}


def export_csv(session: Session, target: Engine, directory: Path, study_code: str | None = None) -> list[Path]:
    """Write `<family>.csv` per endpoint family, `endpoints.csv` and `data_dictionary.csv`
    into `directory`; each file appears complete (written aside, then renamed)."""
    directory.mkdir(parents=True, exist_ok=True)
    studies = source.studies(session, study_code)
    endpoints = [
        (s.code, e)
        for s in studies
        if s.current_protocol is not None
        for e in protocol_of(s.current_protocol).endpoints
    ]
    written = []
    query = select(*[endpoint_value.c[name] for name in COLUMNS]).order_by(
        endpoint_value.c.family,
        endpoint_value.c.study_code,
        endpoint_value.c.subject_code,
        endpoint_value.c.window_start_day,
        endpoint_value.c.endpoint_code,
        endpoint_value.c.ulcer_label,
    )
    if study_code is not None:
        query = query.where(endpoint_value.c.study_code == study_code)
    families = sorted({e.family for _, e in endpoints})
    with target.connect() as conn:
        by_family: dict[str, list[Any]] = {family: [] for family in families}
        for row in conn.execute(query.add_columns(endpoint_value.c.family.label("_family"))):
            by_family.setdefault(row._family, []).append(row[: len(COLUMNS)])
    for family, rows in sorted(by_family.items()):
        written.append(_write(directory / f"{family}.csv", list(COLUMNS), rows))
    written.append(
        _write(
            directory / "endpoints.csv",
            list(ENDPOINT_COLUMNS),
            [
                (
                    study,
                    e.code,
                    e.family,
                    e.rule,
                    e.version,
                    e.unit or "",
                    e.per_ulcer,
                    json.dumps(dict(e.params), sort_keys=True),
                    RULE_TEXT[e.rule],
                )
                for study, e in endpoints
            ],
        )
    )
    dictionary = [(f"{family}.csv", name, text) for family in sorted(by_family) for name, text in COLUMNS.items()]
    dictionary += [("endpoints.csv", name, text) for name, text in ENDPOINT_COLUMNS.items()]
    written.append(_write(directory / "data_dictionary.csv", ["file", "column", "description"], dictionary))
    return written


def _cell(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula gets a leading quote (OWASP
    "CSV injection"): ulcer labels are typed by patients."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _write(path: Path, header: list[str], rows: list[Any]) -> Path:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(header)
            writer.writerows([_cell(value) for value in row] for row in rows)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
