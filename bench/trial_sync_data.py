"""Synthetic operational data for the trial-sync benchmark, written straight into the
source schema with PostgreSQL COPY (no API, no ORM objects per row).

    generate(database_url, n, now) -> Dataset

The database must be fresh (empty, migrated here). The demo study is loaded with the real
code (`load_protocol`), one nurse of TEH-01 with the real `create_staff`; then per
participant, all in site TEH-01, cohort LOW, Asia/Tehran, target leg right, active since
study day -15, day 0 = the local date of `now` - 180 (so `now` is study day 180):

* a current pain score for every diary day from day -14 to day 180 (today's only when
  it lies at least an hour before `now`), recorded in the evening (+03:30);
* a six-minute walk test (phone_gps, 360 s, 150-500 m, improving) every 7 days from day -14;
* one ulcer, label A, right heel, first seen on day -14, with a photo every 14 days from
  day -14, each accepted by the nurse the next morning (the reviewed area shrinks); one
  participant in ten heals: photos up to day 126, then closures recorded on days 154 and
  168 (healed_on = day 154).

Every row satisfies the models' NOT NULL, unique and check constraints (the COPY column
lists are checked against the tables: a NOT NULL column without a value is an error
here, not a surprise later). Every timestamp is at least `QUIET_BEFORE_NOW` before
`now`, so an incremental sync at `now` finds nothing changed. Ids are assigned here
(the database is fresh) and the sequences are moved past them afterwards, so the real
services can add rows later. No audit rows: the sync never reads them.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

ZONE = "Asia/Tehran"
TZ = ZoneInfo(ZONE)
SITE, COHORT = "TEH-01", "LOW"
DIARY_FROM, TODAY = -14, 180
WALK_EVERY, PHOTO_EVERY = 7, 14
HEALER_EVERY = 10  # participant i heals when i % HEALER_EVERY == HEALER_EVERY - 1
HEALER_LAST_PHOTO, HEALER_CLOSURES = 126, (154, 168)
QUIET_BEFORE_NOW = timedelta(minutes=30)  # no generated timestamp is later than now - this
NURSE_EMAIL = "bench.nurse@site.example"
NURSE_PASSWORD = "bench trial sync nurse password"  # noqa: S105 (a throwaway database)

# Tables in the order they are written (foreign keys).
TABLES = ("participant", "pain_score", "walk_test", "ulcer", "ulcer_photo", "photo_review", "ulcer_closure")


def choose_now(real_now: datetime) -> datetime:
    """The benchmark's instant: the real time, unless it is within 90 minutes of local
    midnight in Tehran, then two hours earlier. The incremental run (a few minutes later)
    must fall on the same local day, and today's diary must already exist."""
    local = real_now.astimezone(TZ)
    minutes = local.hour * 60 + local.minute
    if minutes < 90 or minutes > 23 * 60 + 30:
        real_now -= timedelta(hours=2)
    return real_now.replace(microsecond=0)


@dataclass
class Dataset:
    n: int
    now: datetime
    day0: date
    study_id: int
    study_code: str
    staff_id: int
    secret_key: str
    participant_ids: list[int]
    subject_codes: list[str]
    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


class _Ids:
    """Ids of a fresh table, assigned here."""

    def __init__(self, start: int) -> None:
        self.next = start

    def take(self) -> int:
        value = self.next
        self.next += 1
        return value


def _local(day: date, at: dtime) -> datetime:
    return datetime.combine(day, at, TZ).astimezone(UTC)


def _hex(rng: random.Random, bits: int = 256) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


def generate(database_url: str, n: int, now: datetime, seed: int = 20261127, secret_key: str = "") -> Dataset:
    """Migrate the fresh database at `database_url`, load the demo study and write N
    participants' 180 days. `now` must be aware (UTC)."""
    from sqlalchemy import select

    from backend.auth.secrets import Secrets
    from backend.core.actor import Actor
    from backend.db import Database, make_engine
    from backend.migrations import upgrade
    from backend.staff.models import StaffRole
    from backend.staff.service import create_staff
    from backend.studies.models import Cohort, Site
    from backend.studies.protocol import DEMO_PROTOCOL_PATH, read_protocol_file
    from backend.studies.service import find_study, load_protocol

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        seconds["migrate"] = time.perf_counter() - started
        t0 = time.perf_counter()
        day0 = now.astimezone(TZ).date() - timedelta(days=TODAY)
        loaded_at = _local(day0 - timedelta(days=60), dtime(9, 0))
        document, sha256 = read_protocol_file(DEMO_PROTOCOL_PATH)
        secret_key = secret_key or uuid.uuid4().hex * 2
        with Database(engine).session_scope() as session:
            load_protocol(session, document, sha256, Actor.system("bench"), loaded_at)
            study = find_study(session, document["study"]["code"])
            # A cheap hash cost: the nurse signs in once, for the read-path check.
            secrets = Secrets(secret_key, time_cost=1, memory_kib=8192)
            nurse = create_staff(
                session,
                secrets,
                Actor.system("bench", study_id=study.id),
                study,
                NURSE_EMAIL,
                NURSE_PASSWORD,
                StaffRole.NURSE,
                [SITE],
                loaded_at + timedelta(days=1),
            )
            site_id = session.scalars(select(Site.id).where(Site.study_id == study.id, Site.code == SITE)).one()
            cohort_id = session.scalars(
                select(Cohort.id).where(Cohort.study_id == study.id, Cohort.code == COHORT)
            ).one()
            study_id, study_code, staff_id = study.id, study.code, nurse.id
            session.commit()
        seconds["protocol + staff"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        counts, participant_ids, subject_codes = _write_all(
            engine,
            n,
            now,
            day0,
            study_id,
            site_id,
            cohort_id,
            staff_id,
            random.Random(seed),  # noqa: S311 (test data)
        )
        seconds["COPY"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        from sqlalchemy import text

        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))  # a database in service has statistics
        seconds["VACUUM ANALYZE"] = time.perf_counter() - t0
        seconds["total"] = time.perf_counter() - started
        return Dataset(
            n,
            now,
            day0,
            study_id,
            study_code,
            staff_id,
            secret_key,
            participant_ids,
            subject_codes,
            counts,
            seconds,
        )
    finally:
        engine.dispose()


def _copy(cursor: Any, table: Any, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY rows into `table` (a SQLAlchemy Table); every NOT NULL column without a server
    default must be among `columns`."""
    names = {c.name for c in table.columns}
    unknown = set(columns) - names
    needed = {c.name for c in table.columns if not c.nullable and c.server_default is None} - set(columns)
    if unknown or needed:
        raise AssertionError(
            f"{table.name}: unknown columns {sorted(unknown)}, NOT NULL without value {sorted(needed)}"
        )
    count = 0
    quoted = ", ".join(f'"{c}"' for c in columns)
    with cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _write_all(
    engine: Any,
    n: int,
    now: datetime,
    day0: date,
    study_id: int,
    site_id: int,
    cohort_id: int,
    staff_id: int,
    rng: random.Random,
) -> tuple[dict[str, int], list[int], list[str]]:
    from backend.db import Base

    tables = {name: Base.metadata.tables[name] for name in TABLES}
    latest = now - QUIET_BEFORE_NOW
    local_now = now.astimezone(TZ)
    assert local_now.date() == day0 + timedelta(days=TODAY)

    def day(d: int) -> date:
        return day0 + timedelta(days=d)

    enrolled_at = _local(day(-15), dtime(9, 0))
    created_at = _local(day(-16), dtime(11, 0))
    consent_date = day(-16)
    # The UTC offset of each day (Tehran has kept +03:30 since 2022; computed anyway).
    offsets = {}
    for d in range(DIARY_FROM, TODAY + 1):
        offset = _local(day(d), dtime(12, 0)).astimezone(TZ).utcoffset()
        assert offset is not None
        offsets[d] = int(offset.total_seconds() // 60)

    raw = engine.raw_connection()
    try:
        connection = raw.driver_connection
        with connection.cursor() as cursor:
            starts = {}
            for name in TABLES:
                cursor.execute(f'SELECT coalesce(max(id), 0) + 1 FROM "{name}"')  # noqa: S608 (fixed names)
                starts[name] = cursor.fetchone()[0]
            pids = list(range(starts["participant"], starts["participant"] + n))
            codes = [f"TEH01-B{i + 1:05d}" for i in range(n)]
            counts: dict[str, int] = {}

            counts["participant"] = _copy(
                cursor,
                tables["participant"],
                (
                    "id",
                    "study_id",
                    "site_id",
                    "cohort_id",
                    "subject_code",
                    "target_leg",
                    "timezone",
                    "language",
                    "day0_date",
                    "status",
                    "consent_version",
                    "consent_date",
                    "enrolled_at",
                    "client_uuid",
                    "request_fingerprint",
                    "created_at",
                    "updated_at",
                ),
                (
                    (
                        pid,
                        study_id,
                        site_id,
                        cohort_id,
                        code,
                        "right",
                        ZONE,
                        "fa",
                        day0,
                        "active",
                        "1.0",
                        consent_date,
                        enrolled_at,
                        uuid.uuid4(),
                        _hex(rng),
                        created_at,
                        enrolled_at,
                    )
                    for pid, code in zip(pids, codes, strict=True)
                ),
            )

            # Per participant: a baseline, an improvement, a healer or not (seeded).
            profiles = []
            for i in range(n):
                profiles.append(
                    {
                        "pain0": rng.uniform(5.5, 9.0),
                        "pain_drop": rng.uniform(0.0, 5.0),
                        "walk0": rng.uniform(150.0, 330.0),
                        "walk_gain": rng.uniform(0.0, 150.0),
                        "area0": rng.uniform(150.0, 1500.0),
                        "shrink": rng.uniform(0.2, 0.85),
                        "healer": i % HEALER_EVERY == HEALER_EVERY - 1,
                    }
                )

            pain_ids = _Ids(starts["pain_score"])

            def pain_rows() -> Iterator[tuple[Any, ...]]:
                for pid, profile in zip(pids, profiles, strict=True):
                    for d in range(DIARY_FROM, TODAY + 1):
                        recorded_at = _local(day(d), dtime(20, 0)) + timedelta(seconds=rng.randrange(0, 3600))
                        if d == TODAY:  # today's: an hour before now at the latest, or none
                            recorded_at = min(recorded_at, now - timedelta(hours=1))
                            if recorded_at.astimezone(TZ).date() != day(d):
                                continue
                        received_at = recorded_at + timedelta(milliseconds=rng.randrange(300, 5000))
                        progress = max(d, 0) / TODAY
                        score = round(profile["pain0"] - profile["pain_drop"] * progress + rng.uniform(-1.2, 1.2))
                        yield (
                            pain_ids.take(),
                            pid,
                            uuid.uuid4(),
                            _hex(rng),
                            recorded_at,
                            offsets[d],
                            received_at,
                            day(d),
                            d,
                            False,
                            "participant",
                            pid,
                            min(10, max(0, score)),
                            day(d),
                        )

            counts["pain_score"] = _copy(
                cursor,
                tables["pain_score"],
                (
                    "id",
                    "participant_id",
                    "client_uuid",
                    "request_fingerprint",
                    "recorded_at",
                    "recorded_utc_offset_minutes",
                    "received_at",
                    "local_date",
                    "study_day",
                    "late_entry",
                    "entered_by_type",
                    "entered_by_id",
                    "score",
                    "diary_date",
                ),
                pain_rows(),
            )

            walk_ids = _Ids(starts["walk_test"])

            def walk_rows() -> Iterator[tuple[Any, ...]]:
                for pid, profile in zip(pids, profiles, strict=True):
                    for d in range(DIARY_FROM, TODAY + 1, WALK_EVERY):
                        recorded_at = _local(day(d), dtime(10, 0)) + timedelta(seconds=rng.randrange(0, 7200))
                        if recorded_at > latest:
                            continue
                        received_at = recorded_at + timedelta(seconds=rng.randrange(361, 420))
                        progress = max(d, 0) / TODAY
                        distance = profile["walk0"] + profile["walk_gain"] * progress + rng.uniform(-20.0, 20.0)
                        distance = round(min(500.0, max(150.0, distance)), 1)
                        yield (
                            walk_ids.take(),
                            pid,
                            uuid.uuid4(),
                            _hex(rng),
                            recorded_at,
                            offsets[d],
                            received_at,
                            day(d),
                            d,
                            False,
                            "participant",
                            pid,
                            "phone_gps",
                            distance,
                            360,
                            False,
                            0,
                            0,
                            False,
                            "none",
                            round(distance / 0.7),
                            False,
                        )

            counts["walk_test"] = _copy(
                cursor,
                tables["walk_test"],
                (
                    "id",
                    "participant_id",
                    "client_uuid",
                    "request_fingerprint",
                    "recorded_at",
                    "recorded_utc_offset_minutes",
                    "received_at",
                    "local_date",
                    "study_day",
                    "late_entry",
                    "entered_by_type",
                    "entered_by_id",
                    "method",
                    "distance_m",
                    "duration_s",
                    "stopped_early",
                    "rests_count",
                    "rests_total_s",
                    "supplemental_oxygen",
                    "assistive_device",
                    "step_count",
                    "needs_review",
                ),
                walk_rows(),
            )

            ulcer_ids = list(range(starts["ulcer"], starts["ulcer"] + n))
            ulcer_created = _local(day(DIARY_FROM), dtime(9, 30))
            counts["ulcer"] = _copy(
                cursor,
                tables["ulcer"],
                (
                    "id",
                    "participant_id",
                    "client_uuid",
                    "request_fingerprint",
                    "label",
                    "leg",
                    "location",
                    "first_seen_on",
                    "created_at",
                    "created_by_type",
                    "created_by_id",
                    "healed_on",
                ),
                (
                    (
                        uid,
                        pid,
                        uuid.uuid4(),
                        _hex(rng),
                        "A",
                        "right",
                        "heel",
                        day(DIARY_FROM),
                        ulcer_created,
                        "staff",
                        staff_id,
                        day(HEALER_CLOSURES[0]) if profile["healer"] else None,
                    )
                    for uid, pid, profile in zip(ulcer_ids, pids, profiles, strict=True)
                ),
            )

            photo_ids = _Ids(starts["ulcer_photo"])
            reviews: list[tuple[Any, ...]] = []
            review_ids = _Ids(starts["photo_review"])
            marker_color = "[20, 70, 200]"  # JSON

            def photo_rows() -> Iterator[tuple[Any, ...]]:
                for pid, uid, profile in zip(pids, ulcer_ids, profiles, strict=True):
                    last = HEALER_LAST_PHOTO if profile["healer"] else TODAY
                    for d in range(DIARY_FROM, last + 1, PHOTO_EVERY):
                        recorded_at = _local(day(d), dtime(10, 5)) + timedelta(seconds=rng.randrange(0, 7200))
                        reviewed_at = _local(day(d + 1), dtime(9, 0)) + timedelta(seconds=rng.randrange(0, 14400))
                        if reviewed_at > latest:
                            continue
                        received_at = recorded_at + timedelta(seconds=rng.randrange(2, 60))
                        progress = (d - DIARY_FROM) / (TODAY - DIARY_FROM)
                        if profile["healer"]:
                            area = profile["area0"] * max(0.02, 1.0 - progress * 1.3)
                        else:
                            area = profile["area0"] * (1.0 - profile["shrink"] * progress)
                        area = round(area * rng.uniform(0.95, 1.05), 1)
                        photo_id = photo_ids.take()
                        stored = _hex(rng)
                        yield (
                            photo_id,
                            pid,
                            uuid.uuid4(),
                            _hex(rng),
                            recorded_at,
                            offsets[d],
                            received_at,
                            day(d),
                            d,
                            False,
                            "participant",
                            pid,
                            uid,
                            _hex(rng),
                            rng.randrange(2_000_000, 5_000_000),
                            "JPEG",
                            f"{stored}.jpg",
                            "image/jpeg",
                            4000,
                            3000,
                            20.0,
                            marker_color,
                            "accepted",
                        )
                        reviews.append(
                            (review_ids.take(), photo_id, "accept", area, round(area * 95.0, 1), reviewed_at, staff_id)
                        )

            counts["ulcer_photo"] = _copy(
                cursor,
                tables["ulcer_photo"],
                (
                    "id",
                    "participant_id",
                    "client_uuid",
                    "request_fingerprint",
                    "recorded_at",
                    "recorded_utc_offset_minutes",
                    "received_at",
                    "local_date",
                    "study_day",
                    "late_entry",
                    "entered_by_type",
                    "entered_by_id",
                    "ulcer_id",
                    "received_sha256",
                    "received_bytes",
                    "received_format",
                    "storage_key",
                    "media_type",
                    "width",
                    "height",
                    "marker_side_mm",
                    "marker_color_srgb",
                    "review_status",
                ),
                photo_rows(),
            )
            counts["photo_review"] = _copy(
                cursor,
                tables["photo_review"],
                ("id", "photo_id", "decision", "area_mm2", "area_px", "reviewed_at", "reviewed_by_id"),
                reviews,
            )
            closure_ids = _Ids(starts["ulcer_closure"])
            counts["ulcer_closure"] = _copy(
                cursor,
                tables["ulcer_closure"],
                ("id", "ulcer_id", "observed_on", "note", "recorded_at", "recorded_by_id"),
                (
                    (
                        closure_ids.take(),
                        uid,
                        day(d),
                        "complete epithelialisation",
                        _local(day(d), dtime(11, 0)),
                        staff_id,
                    )
                    for uid, profile in zip(ulcer_ids, profiles, strict=True)
                    if profile["healer"]
                    for d in HEALER_CLOSURES
                ),
            )
            for name in TABLES:  # the services' next inserts take the next ids
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM \"{name}\"))"  # noqa: S608
                )
        connection.commit()
    finally:
        raw.close()
    return counts, pids, codes


def check_counts(database_url: str, dataset: Dataset) -> tuple[bool, str]:
    """The tables hold what the generator says it wrote, and nothing is later than now - quiet."""
    import psycopg

    expected_pain = (TODAY - DIARY_FROM) + 1  # the last only when an hour old (it is: see choose_now)
    latest = dataset.now - QUIET_BEFORE_NOW
    with psycopg.connect(database_url) as connection:
        got = {
            name: connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]  # type: ignore[index]  # noqa: S608
            for name in TABLES
        }
        late = connection.execute(
            """SELECT
                 (SELECT count(*) FROM pain_score WHERE received_at > %(t)s)
               + (SELECT count(*) FROM walk_test WHERE received_at > %(t)s)
               + (SELECT count(*) FROM ulcer_photo WHERE received_at > %(t)s)
               + (SELECT count(*) FROM photo_review WHERE reviewed_at > %(t)s)
               + (SELECT count(*) FROM ulcer_closure WHERE recorded_at > %(t)s)
               + (SELECT count(*) FROM participant WHERE updated_at > %(t)s)""",
            {"t": latest},
        ).fetchone()[0]  # type: ignore[index]
        per_day = connection.execute(
            "SELECT count(*) FROM (SELECT participant_id, diary_date FROM pain_score WHERE superseded_at IS NULL "
            "GROUP BY 1, 2 HAVING count(*) > 1) d"
        ).fetchone()[0]  # type: ignore[index]
    ok = got == dataset.counts and late == 0 and per_day == 0
    ok = ok and dataset.counts["pain_score"] in (dataset.n * expected_pain, dataset.n * (expected_pain - 1))
    text = ", ".join(f"{name} {got[name]}" for name in TABLES)
    return ok, f"{text}; later than now-{QUIET_BEFORE_NOW}: {late}; days with 2 current scores: {per_day}"


def check_read_paths(database_url: str, target_url: str, dataset: Dataset, workdir: str) -> tuple[bool, str]:
    """Read two participants (one who healed) through the real API as the nurse: the
    participant, pain scores, walk tests, ulcers, photos, the area history. Every call
    must answer 200 and the counts must match what was written: the generated rows load
    through the models and dump through the response schemas."""
    import json

    from backend.app import create_app
    from backend.config import Config

    env = {
        "LIMBTRACK_ENV": "development",
        "DATABASE_URL": database_url,
        "TRIAL_DATABASE_URL": target_url,
        "SECRET_KEY": dataset.secret_key,
        "PHOTO_STORAGE_DIR": f"{workdir}/photos",
        "LOG_LEVEL": "WARNING",
    }
    app = create_app(Config.from_env(env))
    client = app.test_client()
    problems: list[str] = []
    calls = 0
    login = client.post("/api/v1/auth/staff/login", json={"email": NURSE_EMAIL, "password": NURSE_PASSWORD})
    if login.status_code != 200:
        return False, f"staff login answered {login.status_code}: {login.get_data(as_text=True)[:300]}"
    token = (login.json or {})["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    def get(path: str) -> Any:
        nonlocal calls
        calls += 1
        response = client.get(f"/api/v1{path}", headers=headers)
        if response.status_code != 200:
            problems.append(f"GET {path}: {response.status_code} {response.get_data(as_text=True)[:200]}")
            return None, 0
        pages = json.loads(response.headers.get("X-Pagination", "{}"))
        return response.json, pages.get("total", len(response.json) if isinstance(response.json, list) else 1)

    healer_index = HEALER_EVERY - 1 if dataset.n >= HEALER_EVERY else None
    for index in (0, healer_index):
        if index is None:
            continue
        pid, healer = dataset.participant_ids[index], index % HEALER_EVERY == HEALER_EVERY - 1
        person, _ = get(f"/participants/{pid}")
        if person is not None and person.get("subject_code") != dataset.subject_codes[index]:
            problems.append(f"participant {pid}: subject code {person.get('subject_code')}")
        _, scores = get(f"/participants/{pid}/pain-scores?page_size=100")
        if scores not in (TODAY - DIARY_FROM, TODAY - DIARY_FROM + 1):
            problems.append(f"participant {pid}: {scores} pain scores")
        _, walks = get(f"/participants/{pid}/walk-tests?page_size=100")
        if walks != len(range(DIARY_FROM, TODAY + 1, WALK_EVERY)):
            problems.append(f"participant {pid}: {walks} walk tests")
        ulcers, _ = get(f"/participants/{pid}/ulcers")
        if not ulcers or len(ulcers) != 1:
            problems.append(f"participant {pid}: ulcers {ulcers}")
            continue
        ulcer_id = ulcers[0]["id"]
        _, photos = get(f"/participants/{pid}/ulcers/{ulcer_id}/photos?page_size=100")
        expected_photos = len(range(DIARY_FROM, (HEALER_LAST_PHOTO if healer else TODAY) + 1, PHOTO_EVERY))
        if photos != expected_photos:
            problems.append(f"participant {pid}: {photos} photos, expected {expected_photos}")
        history, _ = get(f"/participants/{pid}/ulcers/{ulcer_id}/area-history")
        if history is not None:
            points = history.get("points", [])
            expected = expected_photos + (len(HEALER_CLOSURES) if healer else 0)
            reviewed = sum(1 for p in points if p.get("reviewed"))
            if len(points) != expected or reviewed != expected:
                problems.append(f"participant {pid}: area history {len(points)} points ({reviewed} reviewed)")
    app.extensions["limbtrack_db"].engine.dispose()
    if problems:
        return False, "; ".join(problems)
    return True, f"{calls} GETs through the API as the nurse, all 200 with the expected counts"
