"""A sync run against a real trial database: idempotent, incremental (and agreeing with a
full run), crash-safe, and touching only its own tables. Runs on an SQLite target, and on
a PostgreSQL one when the suite runs on PostgreSQL."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from backend.core.actor import Actor
from backend.errors import NotFound
from backend.participants.service import change_status
from backend.studies.protocol import DEMO_PROTOCOL_PATH, document_sha256, read_protocol_file
from backend.studies.service import load_protocol
from backend.trial_sync import service
from backend.trial_sync.service import run_trial_sync
from backend.trial_sync.target import (
    ADVISORY_LOCK_KEY,
    Changes,
    SqlTrialTarget,
    TrialWrite,
    endpoint_value,
    open_target,
)
from tests.diary.helpers import Patient
from tests.factories import Factory
from tests.trial_sync.helpers import at, derived, diary, patient, rows, runs, walk


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(at(-14), tick=False) as traveller:
        yield traveller


@pytest.fixture
def two(make: Factory, clock: time_machine.Traveller) -> tuple[Patient, Patient]:
    """Two participants with a baseline and a month-1 diary and walk; the clock at day 30."""
    a, b = patient(make), patient(make)
    diary(clock, a, {-3: 6, -2: 7, -1: 8, 24: 4, 25: 4, 26: 5})
    diary(clock, b, {-2: 5, -1: 5, 0: 5, 25: 5})
    walk(clock, a, -5, 200)
    walk(clock, a, 25, 260)
    clock.move_to(at(30, "21:00"))
    return a, b


def code(who: Patient) -> str:
    return who.participant.subject_code


def test_a_first_run_writes_every_row_and_a_second_writes_nothing(
    db: Session, target: Engine, two: tuple[Patient, Patient]
) -> None:
    a, b = two
    first = run_trial_sync(db, SqlTrialTarget(target), at(30, "21:00"))

    assert (first.mode, first.participants, first.updated, first.removed) == ("full", 2, 0, 0)
    assert first.inserted == len(rows(target)) > 0
    assert first.run_id == runs(target)[0]["id"]
    row = rows(target)[(code(a), "M1", "REST_PAIN_NRS", "")]
    assert (row["value"], row["n"], row["status"]) == (pytest.approx(13 / 3), 3, "provisional")
    # b has one diary day in month 1 so far: no mean yet, and the reason why
    row = rows(target)[(code(b), "M1", "REST_PAIN_NRS", "")]
    assert (row["value"], row["n"], row["status"], row["missing_reason"]) == (
        None,
        1,
        "provisional",
        "insufficient_data",
    )

    second = run_trial_sync(db, SqlTrialTarget(target), at(30, "21:00"))

    assert (second.run_id, second.inserted, second.updated, second.removed) == (None, 0, 0, 0)
    assert str(second).startswith(f"no changes since run {first.run_id}")
    assert len(runs(target)) == 1


def test_a_staff_correction_updates_only_the_rows_it_changes(
    db: Session, target: Engine, two: tuple[Patient, Patient], make: Factory, client: FlaskClient
) -> None:
    a, _ = two
    run_trial_sync(db, SqlTrialTarget(target), at(30, "21:00"))
    before = rows(target)
    score_id = a.scores()[0]["id"]  # newest first: day 26's 5
    nurse = make.staff("nurse", sites=("TEH-01",))
    body = {"client_uuid": str(uuid.uuid4()), "score": 2, "reason": "typing slip, confirmed by phone"}
    response = client.post(
        f"/api/v1/participants/{a.id}/pain-scores/{score_id}/corrections",
        json=body,
        headers=make.staff_headers(nurse),
    )
    assert response.status_code == 201, response.json

    report = run_trial_sync(db, SqlTrialTarget(target), at(30, "21:05"))

    after = rows(target)
    changed = {key for key in after if after[key]["sync_run_id"] != before[key]["sync_run_id"]}
    assert report.participants == 1  # b had no change and no window moved on
    assert changed == {
        (code(a), "M1", "REST_PAIN_NRS", ""),  # 4, 4, 5 → 4, 4, 2
        (code(a), "M1", "REST_PAIN_CHANGE", ""),
        # same value, but it rests on the new version now
        (code(a), "M1", "REST_PAIN_RESPONDER", ""),
        (code(a), "M1", "DIARY_COMPLETION_PCT", ""),
    }
    assert report.updated == 4
    assert after[(code(a), "M1", "REST_PAIN_NRS", "")]["value"] == pytest.approx(10 / 3)
    assert f"pain_score:{response.json['id']}" in json.loads(after[(code(a), "M1", "REST_PAIN_NRS", "")]["source_ids"])
    assert after[(code(a), "M1", "REST_PAIN_CHANGE", "")]["value"] == pytest.approx(10 / 3 - 7)


def test_incremental_runs_agree_with_a_full_run(
    db: Session, target: Engine, two: tuple[Patient, Patient], clock: time_machine.Traveller
) -> None:
    a, b = two
    run_trial_sync(db, SqlTrialTarget(target), at(30, "21:00"))
    walk(clock, b, 31, 150)
    diary(clock, a, {33: 3, 34: 3})
    clock.move_to(at(40, "09:00"))  # month 1 closed on day 37
    incremental = run_trial_sync(db, SqlTrialTarget(target), at(40, "09:00"))
    assert incremental.mode == "incremental"
    result = derived(target)

    # Deriving everyone again finds nothing that the incremental runs left out of date.
    full = run_trial_sync(db, SqlTrialTarget(target), at(40, "09:00"), full=True)

    assert (full.participants, full.inserted, full.updated, full.removed) == (2, 0, 0, 0)
    assert full.unchanged == len(result)
    assert derived(target) == result
    nrs = rows(target)[(code(a), "M1", "REST_PAIN_NRS", "")]
    assert (nrs["status"], nrs["n"], nrs["value"]) == ("final", 5, pytest.approx((4 + 4 + 5 + 3 + 3) / 5))


def test_a_window_closing_changes_statuses_without_any_new_data(
    db: Session, target: Engine, two: tuple[Patient, Patient]
) -> None:
    a, b = two
    run_trial_sync(db, SqlTrialTarget(target), at(30, "21:00"))

    report = run_trial_sync(db, SqlTrialTarget(target), at(38, "09:00"))  # month 1 closed after day 37

    m1 = rows(target, visit_code="M1")
    assert report.participants == 2 and report.updated > 0
    assert m1[(code(a), "M1", "REST_PAIN_NRS", "")]["status"] == "final"
    assert m1[(code(a), "M1", "DIARY_COMPLETION_PCT", "")]["value"] == pytest.approx(3 / 15 * 100)
    nrs_b = m1[(code(b), "M1", "REST_PAIN_NRS", "")]
    assert (nrs_b["status"], nrs_b["missing_reason"], nrs_b["value"]) == ("missing", "insufficient_data", None)
    walk_b = m1[(code(b), "M1", "SIX_MWD_M", "")]
    assert (walk_b["status"], walk_b["missing_reason"]) == ("missing", "no_measurement")


def test_a_withdrawal_makes_every_unclosed_visit_missing(
    db: Session, target: Engine, two: tuple[Patient, Patient], clock: time_machine.Traveller
) -> None:
    a, _ = two
    run_trial_sync(db, SqlTrialTarget(target), at(30, "21:00"))
    clock.move_to(at(45, "10:00"))
    change_status(
        db, Actor.system("test", study_id=a.participant.study_id), a.id, "withdraw", "moved away", at(45, "10:00")
    )

    run_trial_sync(db, SqlTrialTarget(target), at(45, "10:00"))

    mine = {key: row for key, row in rows(target).items() if key[0] == code(a)}
    assert {key[1] for key in mine} == {"BASELINE", "M1", "M2", "M3", "M4", "M5", "M6"}
    assert mine[(code(a), "M1", "REST_PAIN_NRS", "")]["status"] == "final"  # closed on day 37, before
    for visit in ("M2", "M3", "M4", "M5", "M6"):
        row = mine[(code(a), visit, "REST_PAIN_NRS", "")]
        assert (row["value"], row["status"], row["missing_reason"]) == (None, "missing", "withdrawn")


class PowerCut:
    """The SQL trial target, whose `at_write`-th chunk write fails."""

    def __init__(self, engine: Engine, at_write: int) -> None:
        self.real, self.at_write, self.writes = SqlTrialTarget(engine), at_write, 0

    @contextmanager
    def transaction(self) -> Iterator[TrialWrite]:
        with self.real.transaction() as trial:
            real_apply = trial.apply

            def apply(changes: Changes, run_id: int, now: datetime) -> None:
                self.writes += 1
                if self.writes == self.at_write:
                    raise RuntimeError("the machine lost power")
                real_apply(changes, run_id, now)

            trial.apply = apply  # type: ignore[method-assign]
            yield trial


def test_a_failure_mid_run_leaves_the_previous_state_and_the_next_run_completes_it(
    db: Session, target: Engine, two: tuple[Patient, Patient]
) -> None:
    run_trial_sync(db, SqlTrialTarget(target), at(30, "21:00"))
    before, runs_before = derived(target), runs(target)
    with pytest.raises(RuntimeError, match="lost power"):
        run_trial_sync(db, PowerCut(target, at_write=2), at(38, "09:00"), chunk_size=1)  # one participant per chunk

    assert derived(target) == before
    assert runs(target) == runs_before
    report = run_trial_sync(db, SqlTrialTarget(target), at(38, "09:00"), chunk_size=1)
    assert report.participants == 2 and report.updated > 0
    assert {row["status"] for key, row in rows(target, visit_code="M1").items()} <= {"final", "missing"}


def test_a_dry_run_counts_and_writes_nothing(db: Session, target: Engine, two: tuple[Patient, Patient]) -> None:
    report = run_trial_sync(db, SqlTrialTarget(target), at(30, "21:00"), dry_run=True)

    assert report.inserted > 0 and report.run_id is None
    assert str(report).startswith("dry run (full), nothing written")
    assert rows(target) == {} and runs(target) == []


def test_an_unknown_study_is_refused(db: Session, target: Engine) -> None:
    with pytest.raises(NotFound, match="NOPE"):
        run_trial_sync(db, SqlTrialTarget(target), at(30), study_code="NOPE")


def test_the_sync_touches_nothing_else_in_the_trial_database(
    db: Session, target: Engine, two: tuple[Patient, Patient]
) -> None:
    with target.begin() as conn:
        conn.execute(text("CREATE TABLE statisticians_notes (id INTEGER PRIMARY KEY, note VARCHAR(100))"))
        conn.execute(text("INSERT INTO statisticians_notes VALUES (1, 'keep me')"))

    run_trial_sync(db, SqlTrialTarget(target), at(30, "21:00"))
    open_target(target.url.render_as_string(hide_password=False)).dispose()  # migrating again is a no-op

    with target.begin() as conn:
        assert conn.execute(text("SELECT note FROM statisticians_notes")).scalar_one() == "keep me"
        conn.execute(text("DROP TABLE statisticians_notes"))


def test_the_family_views_are_wide_tables(db: Session, target: Engine, two: tuple[Patient, Patient]) -> None:
    a, _ = two
    run_trial_sync(db, SqlTrialTarget(target), at(30, "21:00"))

    with target.connect() as conn:
        row = conn.execute(
            text("SELECT * FROM rest_pain_by_visit WHERE subject_code = :s AND visit_code = 'M1'"), {"s": code(a)}
        ).one()
        walks = conn.execute(text("SELECT count(*) FROM walk_by_visit")).scalar_one()
        count = conn.scalar(select(func.count()).select_from(endpoint_value))
    assert row.rest_pain_nrs == pytest.approx(13 / 3)
    assert row.rest_pain_change == pytest.approx(13 / 3 - 7)
    assert (row.rest_pain_responder, row.rest_pain_nrs_status) == (1, "provisional")
    assert walks == 4  # two participants × baseline and month 1
    assert count == len(rows(target))


def test_a_new_protocol_version_derives_everyone_again(
    db: Session, target: Engine, two: tuple[Patient, Patient], clock: time_machine.Traveller
) -> None:
    _, b = two
    run_trial_sync(db, SqlTrialTarget(target), at(30, "21:00"))
    document = copy.deepcopy(read_protocol_file(DEMO_PROTOCOL_PATH)[0])
    document["version"] = "1.0.2"
    nrs = next(e for e in document["endpoints"] if e["code"] == "REST_PAIN_NRS")
    nrs.update(version=2, params={"min_n": 1})  # a mean from one day on
    clock.move_to(at(30, "21:10"))
    load_protocol(db, document, document_sha256(document), Actor.system("test"), at(30, "21:10"))

    report = run_trial_sync(db, SqlTrialTarget(target), at(30, "21:15"))

    assert report.participants == 2  # nobody's records changed, but the rules did
    row = rows(target)[(code(b), "M1", "REST_PAIN_NRS", "")]
    assert (row["value"], row["n"], row["rule_version"]) == (5.0, 1, 2)
    assert {r["rule_version"] for k, r in rows(target).items() if k[2] == "REST_PAIN_NRS"} == {2}


def test_another_run_in_progress_is_refused_at_once(db: Session, target: Engine, two: tuple[Patient, Patient]) -> None:
    if target.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers with its own lock (the run waits for it)")
    with target.connect() as other, other.begin():
        other.execute(select(func.pg_advisory_xact_lock(ADVISORY_LOCK_KEY)))
        with pytest.raises(service.SyncBusy, match="Another trial sync is running"):
            run_trial_sync(db, SqlTrialTarget(target), at(30, "21:00"))
    assert run_trial_sync(db, SqlTrialTarget(target), at(30, "21:00")).run_id is not None


def test_a_lock_freezes_the_rows_as_the_locked_data_stands_and_runs_report_what_they_skip(
    db: Session,
    target: Engine,
    two: tuple[Patient, Patient],
    make: Factory,
    client: FlaskClient,
    clock: time_machine.Traveller,
) -> None:
    a, b = two
    run_trial_sync(db, SqlTrialTarget(target), at(30, "21:00"))  # month 1 open: a's mean 13/3, provisional
    clock.move_to(at(31, "10:00"))
    admin_user = make.staff("admin")
    admin = make.staff_headers(admin_user)
    score_id = a.scores()[0]["id"]  # day 26's 5
    body = {"client_uuid": str(uuid.uuid4()), "score": 2, "reason": "typing slip, confirmed by phone"}
    corrected = client.post(f"/api/v1/participants/{a.id}/pain-scores/{score_id}/corrections", json=body, headers=admin)
    assert corrected.status_code == 201, corrected.json
    lock = client.post(
        f"/api/v1/participants/{a.id}/locks",
        json={"level": "locked", "visit_code": "M1", "reason": "close-out of month 1"},
        headers=admin,
    )
    assert lock.status_code == 201, lock.json

    # The first run after the lock (beyond the ten minutes in which requests may still have
    # been writing) writes the locked data as it stands, the correction too.
    first = run_trial_sync(db, SqlTrialTarget(target), at(31, "10:20"))
    assert first.skipped == 0
    assert rows(target)[(code(a), "M1", "REST_PAIN_NRS", "")]["value"] == pytest.approx(10 / 3)

    # From then on the rows are never changed: month 1 closes, a's rows stay as they were.
    report = run_trial_sync(db, SqlTrialTarget(target), at(38, "09:00"))

    assert report.skipped > 0
    assert report.skipped_detail == [f"{code(a)} M1: {report.skipped} row(s) locked"]
    frozen = rows(target)[(code(a), "M1", "REST_PAIN_NRS", "")]
    assert (frozen["status"], frozen["value"]) == ("provisional", pytest.approx(10 / 3))
    assert rows(target)[(code(b), "M1", "REST_PAIN_NRS", "")]["status"] == "missing"  # b is not locked
    assert runs(target)[-1]["skipped_detail"] == report.skipped_detail[0]  # recorded, not only printed

    clock.move_to(at(38, "09:20"))
    released = client.post(
        f"/api/v1/participants/{a.id}/locks/{lock.json['id']}/release",
        json={"reason": "query answered, reopened"},
        headers=make.staff_headers(admin_user),
    )
    assert released.status_code == 200, released.json
    after = run_trial_sync(db, SqlTrialTarget(target), at(38, "09:30"))

    assert after.participants == 1 and after.skipped == 0  # only a: its lock changed
    assert rows(target)[(code(a), "M1", "REST_PAIN_NRS", "")]["status"] == "final"


def test_on_postgresql_the_run_reads_in_one_repeatable_read_snapshot(engine: Engine, target: Engine) -> None:
    """The run sets its own isolation: no caller has to remember it (the CLI once did)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's transactions are serialisable already")
    with Session(engine) as session:
        run_trial_sync(session, SqlTrialTarget(target), at(30, "21:00"))
        isolation = session.execute(text("SHOW transaction_isolation")).scalar_one()
    assert isolation == "repeatable read"

    with Session(engine) as session:
        session.execute(text("SELECT 1"))  # a transaction that has read already cannot change it
        with pytest.raises(RuntimeError, match="without an open transaction"):
            run_trial_sync(session, SqlTrialTarget(target), at(30, "21:00"))
