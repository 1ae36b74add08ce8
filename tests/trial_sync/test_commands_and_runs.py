"""`flask trial-sync run | status | export`, and the staff's view of the runs."""

from __future__ import annotations

import csv
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import time_machine
from flask import Flask
from sqlalchemy import Engine

from backend.trial_sync.target import sync_run
from tests.diary.helpers import Patient
from tests.factories import Factory
from tests.trial_sync.helpers import at, diary, patient, rows, walk


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(at(-14), tick=False) as traveller:
        yield traveller


@pytest.fixture
def one(make: Factory, clock: time_machine.Traveller) -> Patient:
    who = patient(make)
    diary(clock, who, {-3: 6, -2: 7, -1: 8})
    walk(clock, who, -5, 200)
    clock.move_to(at(3, "09:00"))
    return who


def invoke(app: Flask, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=["trial-sync", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_run_then_status_then_a_run_with_nothing_to_do(app: Flask, one: Patient, target: Engine) -> None:
    assert "no sync run yet" in invoke(app, "status")

    dry = invoke(app, "run", "--dry-run")
    assert dry.startswith("trial sync: dry run (full), nothing written: 1 participant(s) derived; inserted 5,")
    assert rows(target) == {}

    first = invoke(app, "run")
    match = re.match(r"trial sync: run (\d+) \(full\): 1 participant\(s\) derived; inserted 5,", first)
    assert match, first  # (on PostgreSQL the dry run used up a run id: sequences do not roll back)
    assert f"no changes since run {match[1]} (incremental): nothing written" in invoke(
        app, "run", "--study", "PMSC-CLI-1"
    )
    assert "0 updated" not in invoke(app, "run", "--full")  # full: derives all, writes nothing

    status = invoke(app, "status")
    assert f"run {match[1]} full all studies" in status
    assert "inserted 5, updated 0, unchanged 0, removed 0, skipped 0, missing 0" in status
    assert "endpoint rows: 5 final" in status


def test_an_unknown_study_is_an_operator_error(app: Flask, target: Engine) -> None:
    result = app.test_cli_runner().invoke(args=["trial-sync", "run", "--study", "NOPE"])

    assert result.exit_code == 1
    assert "No study NOPE." in result.output


def test_export_writes_a_csv_per_family_and_a_data_dictionary(
    app: Flask, one: Patient, target: Engine, tmp_path: Path
) -> None:
    invoke(app, "run")

    output = invoke(app, "export", "--format", "csv", str(tmp_path / "out"))

    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == [
        "amputation.csv",
        "data_dictionary.csv",
        "diary.csv",
        "endpoints.csv",
        "rest_pain.csv",
        "ulcer.csv",
        "walk.csv",
    ]
    assert output.count("wrote ") == 7
    with (tmp_path / "out" / "rest_pain.csv").open(newline="") as handle:
        pain = list(csv.DictReader(handle))
    assert [(r["visit_code"], r["endpoint_code"], r["value"], r["n"], r["status"]) for r in pain] == [
        ("BASELINE", "REST_PAIN_NRS", "7.0", "3", "final")
    ]
    assert pain[0]["subject_code"] == one.participant.subject_code
    assert pain[0]["window_start_date"] == "2026-02-15" and pain[0]["window_end_date"] == "2026-03-01"
    with (tmp_path / "out" / "ulcer.csv").open(newline="") as handle:
        assert list(csv.DictReader(handle)) == []  # no ulcer yet: the header alone
    with (tmp_path / "out" / "endpoints.csv").open(newline="") as handle:
        endpoints = {r["code"]: r for r in csv.DictReader(handle)}
    assert endpoints["REST_PAIN_NRS"]["rule"] == "window_mean_daily"
    assert "min_n" in endpoints["REST_PAIN_NRS"]["params"]
    assert endpoints["ULCER_HEALED_CONFIRMED"]["definition"].startswith("1 when the ulcer was seen healed")
    with (tmp_path / "out" / "data_dictionary.csv").open(newline="") as handle:
        dictionary = {(r["file"], r["column"]): r["description"] for r in csv.DictReader(handle)}
    assert dictionary[("walk.csv", "status")].startswith("final (window closed)")
    assert all(dictionary.values())


def test_staff_see_the_runs_of_their_study_newest_first(
    app: Flask, one: Patient, target: Engine, make: Factory, clock: time_machine.Traveller
) -> None:
    invoke(app, "run")
    with target.begin() as conn:  # a run limited to another study of the same trial database
        conn.execute(
            sync_run.insert().values(
                study_code="OTHER-STUDY",
                mode="full",
                started_at=at(3),
                finished_at=at(3),
                status="completed",
                watermark=at(3),
                participants=0,
                inserted=0,
                updated=0,
                unchanged=0,
                skipped=0,
                missing=0,
                removed=0,
            )
        )
    diary(clock, one, {23: 3})  # month 1 opens on day 23
    invoke(app, "run", "--study", "PMSC-CLI-1")
    monitor = make.staff("monitor", sites=("TEH-02",))

    response = make.client.get("/api/v1/sync/runs", headers=make.staff_headers(monitor))

    assert response.status_code == 200, response.json
    assert [(r["study_code"], r["mode"]) for r in response.json] == [("PMSC-CLI-1", "incremental"), (None, "full")]
    assert response.json[0]["id"] > response.json[1]["id"]
    assert response.json[0]["participants"] == 1 and response.json[0]["inserted"] > 0
    assert response.headers["X-Pagination"]


def test_an_ulcer_label_cannot_become_a_spreadsheet_formula(
    app: Flask, one: Patient, target: Engine, tmp_path: Path, make: Factory
) -> None:
    body = {
        "client_uuid": str(uuid.uuid4()),
        "label": '=HYPERLINK("http://x")',
        "leg": "right",
        "location": "heel",
        "first_seen_on": "2026-02-20",
    }
    assert make.client.post("/api/v1/me/ulcers", json=body, headers=one.headers).status_code == 201
    invoke(app, "run")

    invoke(app, "export", str(tmp_path / "out"))

    with (tmp_path / "out" / "ulcer.csv").open(newline="") as handle:
        labels = {r["ulcer_label"] for r in csv.DictReader(handle)}
    assert labels == {'\'=HYPERLINK("http://x")'}
