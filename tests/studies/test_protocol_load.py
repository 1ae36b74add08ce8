"""`flask protocol load`: create a study, upgrade it, and never rewrite a loaded version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.audit.models import AuditEvent
from backend.studies.models import ProtocolVersion, Site, Study, Visit
from backend.studies.protocol import DEMO_PROTOCOL_PATH


def write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def demo() -> dict[str, Any]:
    return yaml.safe_load(DEMO_PROTOCOL_PATH.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def load(app: Flask, path: Path) -> Any:
    return app.test_cli_runner().invoke(args=["protocol", "load", str(path)])


def test_loading_the_demo_creates_the_study(app: Flask, db: Session) -> None:
    result = load(app, DEMO_PROTOCOL_PATH)
    assert result.exit_code == 0, result.output
    assert "PMSC-CLI-1 protocol 1.0.1: created" in result.output
    study = db.scalar(select(Study))
    assert study is not None and study.registry_id == "IRCT20210221050446N1"
    assert [s.code for s in study.sites] == ["TEH-01", "TEH-02"]
    assert [c.code for c in study.cohorts] == ["HIGH", "LOW"]
    m6 = db.scalar(select(Visit).where(Visit.code == "M6"))
    assert m6 is not None and (m6.target_day, m6.window_start_day, m6.window_end_day) == (180, 166, 194)
    actions = set(db.scalars(select(AuditEvent.action)))
    assert {"study.create", "site.create", "cohort.create", "protocol.load"} <= actions


def test_loading_the_same_version_again_changes_nothing(app: Flask, db: Session) -> None:
    load(app, DEMO_PROTOCOL_PATH)
    result = load(app, DEMO_PROTOCOL_PATH)
    assert result.exit_code == 0
    assert "unchanged" in result.output
    assert db.scalar(select(func.count()).select_from(ProtocolVersion)) == 1


def test_a_changed_file_under_a_loaded_version_is_refused(app: Flask, db: Session, tmp_path: Path) -> None:
    load(app, DEMO_PROTOCOL_PATH)
    document = demo()
    document["visits"][1]["window"]["end"] = 40
    result = load(app, write(tmp_path / "p.yaml", document))
    assert result.exit_code != 0
    assert "1.0.1 is already loaded with different content" in result.output
    assert db.scalar(select(Visit.window_end_day).where(Visit.code == "M1")) == 37


def test_a_new_version_adds_without_rewriting_history(app: Flask, db: Session, tmp_path: Path) -> None:
    load(app, DEMO_PROTOCOL_PATH)
    document = demo()
    document["version"] = "1.1.0"
    document["visits"][1]["window"] = {"start": 21, "end": 39}
    document["sites"].append({"code": "SHZ-01", "name": "Shiraz clinic", "timezone": "Asia/Tehran"})
    result = load(app, write(tmp_path / "p.yaml", document))
    assert result.exit_code == 0, result.output
    assert "upgraded; sites added: SHZ-01" in result.output

    study = db.scalar(select(Study))
    assert study is not None
    assert [pv.version for pv in study.protocol_versions] == ["1.0.1", "1.1.0"]
    assert study.current_protocol is not None and study.current_protocol.version == "1.1.0"
    windows = db.execute(
        select(ProtocolVersion.version, Visit.window_start_day, Visit.window_end_day)
        .join(Visit.protocol_version)
        .where(Visit.code == "M1")
        .order_by(ProtocolVersion.version)
    ).all()
    assert [tuple(w) for w in windows] == [("1.0.1", 23, 37), ("1.1.0", 21, 39)]
    assert db.scalar(select(func.count()).select_from(Site)) == 3


def test_an_older_version_is_refused(app: Flask, tmp_path: Path) -> None:
    document = demo()
    document["version"] = "2.0"
    load(app, write(tmp_path / "new.yaml", document))
    result = load(app, DEMO_PROTOCOL_PATH)
    assert result.exit_code != 0
    assert "1.0.1 is older than the loaded 2.0" in result.output


def test_an_invalid_file_names_the_field_and_loads_nothing(app: Flask, db: Session, tmp_path: Path) -> None:
    document = demo()
    del document["visits"][3]["window"]
    result = load(app, write(tmp_path / "bad.yaml", document))
    assert result.exit_code != 0
    assert "visits.3.window: Missing data for required field." in result.output
    assert db.scalar(select(func.count()).select_from(Study)) == 0
