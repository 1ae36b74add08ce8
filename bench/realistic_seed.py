"""The study the realistic-day bench loads: N participants with their history, seeded
once into a template database and cloned (`CREATE DATABASE run TEMPLATE seed`) per run.

    seeded = ensure_template(admin_url, n, sites, now, workdir)   # seeds only when needed
    run_url = clone(admin_url, seeded, run_name)
    cohort = load_cohort(run_url, seeded)                         # who can do what tonight

What the template holds, all written in one process:

* through the operator entry points (`create_app(...).test_cli_runner()`): `db upgrade`,
  `protocol load` of the demo protocol with `sites` sites instead of its two (all in one
  zone, below), `staff create` of one nurse per site;
* with PostgreSQL COPY into the models' tables (`backend.db.Base.metadata`; every NOT NULL
  column without a server default is checked to be given), N active participants spread
  evenly over the sites, each at a study day of its own between -14 and 194 (today's);
  per participant a device and a patient session with an access token (its hash keyed
  by the app's own `keyed_hash`), one pain score for every diary day from -14 to
  yesterday (recorded 20:00-22:00), a phone walk test every 7 days, and for three in five
  an ulcer with a photo every 7 days, each accepted by the site's nurse the next
  morning (one ulcer in eight still has its last photo waiting for review); one
  participant in ten has an open missed-diary flag; one in twenty (from study day 3 on)
  was offline the last three days: no scores for them, which the bench's sync
  batches then bring. No audit rows: nothing the load does reads them.

The zone: participants and sites live in a whole-hour zone where it is 20:xx when the
template is made (the diary reminder goes at 20:00, and the evening peak is 20:00-22:00
local), so today's scores posted by the bench are first scores of the day, not late
ones. A template is reused while it is still the same local date and 19:00-22:59 in its
zone; otherwise it is dropped and seeded again. Its parameters (and the secret key the
token hashes were made with) are kept in the database's COMMENT.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import random
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import yaml

from bench.trial_sync_data import _copy

SEED_VERSION = 1
ROOT = Path(__file__).resolve().parent.parent
DEMO_PROTOCOL = ROOT / "protocols" / "pmsc-cli-phase1.yaml"
NURSE_PASSWORD = "realistic day bench nurse password"  # noqa: S105 (a throwaway database on loopback)
FIRST_DAY, LAST_DAY = -14, 194  # the demo protocol's diary days
ULCER_SHARE = (3, 5)  # participant id % 5 < 3 has an ulcer
PENDING_EVERY = 8  # one ulcer in eight has its last photo still to review
FLAG_EVERY = 10
OFFLINE_EVERY, OFFLINE_DAYS = 20, 3
TABLES = (
    "participant",
    "device",
    "auth_session",
    "auth_token",
    "pain_score",
    "walk_test",
    "ulcer",
    "ulcer_photo",
    "photo_review",
    "flag",
)


def log(message: str) -> None:
    print(f"[seed {time.strftime('%H:%M:%S')}] {message}", flush=True)


def pick_zone(now: datetime) -> str:
    """The whole-hour Etc zone where it is 20:xx at `now` (Etc/GMT-3 is UTC+3)."""
    offset = (20 - now.astimezone(UTC).hour) % 24
    if offset > 14:
        offset -= 24
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def study_day_of(pid: int) -> int:
    """Today's study day of a participant: spread evenly over the diary days."""
    return FIRST_DAY + (pid * 7919) % (LAST_DAY - FIRST_DAY + 1)


def has_ulcer(pid: int) -> bool:
    return pid % ULCER_SHARE[1] < ULCER_SHARE[0]


def is_offline(pid: int) -> bool:
    """Offline the last OFFLINE_DAYS days (their scores come in a sync batch)."""
    return pid % OFFLINE_EVERY == 7 and study_day_of(pid) >= OFFLINE_DAYS


def access_token(secret_key: str, pid: int) -> str:
    return "lta_rd_" + hmac.new(secret_key.encode(), f"patient {pid}".encode(), hashlib.sha256).hexdigest()[:40]


def nurse_email(site: int) -> str:
    return f"nurse{site:02d}@bench.example"


@dataclass(frozen=True)
class Seeded:
    template: str
    n: int
    sites: int
    zone: str
    local_date: date
    secret_key: str
    seconds: float


@dataclass(frozen=True)
class Patient:
    participant_id: int
    token: str
    zone: ZoneInfo
    study_day: int
    ulcer_id: int | None
    offline: bool


@dataclass(frozen=True)
class Cohort:
    patients: list[Patient]
    nurse_emails: list[str]


def _comment(connection: psycopg.Connection[Any], name: str) -> dict[str, Any] | None:
    row = connection.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,)
    ).fetchone()
    if row is None:
        return None
    try:
        value = json.loads(row[0] or "")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _usable(meta: dict[str, Any], n: int, sites: int, now: datetime) -> bool:
    if meta.get("version") != SEED_VERSION or meta.get("n") != n or meta.get("sites") != sites:
        return False
    local = now.astimezone(ZoneInfo(meta["zone"]))
    return local.date().isoformat() == meta.get("local_date") and 19 <= local.hour <= 22


def ensure_template(admin_url: str, n: int, sites: int, now: datetime, workdir: Path, reseed: bool) -> Seeded:
    """The template database for (n, sites) at `now`: reused when still right, else seeded."""
    name = f"limbtrack_loadbench_seed_{n}_{sites}"
    base = admin_url.rsplit("/", 1)[0]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        meta = _comment(admin, name)
        if meta is not None and not reseed and _usable(meta, n, sites, now):
            log(f"reusing template database {name} (zone {meta['zone']}, local date {meta['local_date']})")
            return Seeded(name, n, sites, meta["zone"], date.fromisoformat(meta["local_date"]), meta["secret"], 0.0)
        if meta is not None:
            log(f"dropping stale template database {name}")
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    started = time.perf_counter()
    zone = pick_zone(now)
    secret_key = uuid.uuid4().hex * 2
    try:
        local_date = _seed(f"{base}/{name}", n, sites, zone, secret_key, now, workdir)
    except BaseException:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        raise
    meta = {
        "version": SEED_VERSION,
        "n": n,
        "sites": sites,
        "zone": zone,
        "local_date": local_date.isoformat(),
        "secret": secret_key,
    }
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"COMMENT ON DATABASE \"{name}\" IS '{json.dumps(meta)}'")
    seconds = time.perf_counter() - started
    log(f"seeded template database {name} in {seconds:.1f}s")
    return Seeded(name, n, sites, zone, local_date, secret_key, seconds)


def clone(admin_url: str, seeded: Seeded, name: str) -> str:
    """A fresh database for one run, copied from the template (seconds, not minutes)."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{seeded.template}"')
    return f"{admin_url.rsplit('/', 1)[0]}/{name}"


def seed_env(database_url: str, secret_key: str, workdir: Path) -> dict[str, str]:
    return {
        "LIMBTRACK_ENV": "development",
        "DATABASE_URL": database_url,
        "SECRET_KEY": secret_key,
        "PHOTO_STORAGE_DIR": str(workdir / "seed-photos"),
        "TRIAL_DATABASE_URL": f"sqlite:///{workdir}/seed-trial.db",
        "LOG_LEVEL": "WARNING",
    }


def _seed(database_url: str, n: int, sites: int, zone: str, secret_key: str, now: datetime, workdir: Path) -> date:
    from backend.app import create_app
    from backend.auth.access import auth_settings
    from backend.config import Config
    from backend.db import Base

    t0 = time.perf_counter()
    document = yaml.safe_load(DEMO_PROTOCOL.read_text())
    document["sites"] = [
        {"code": f"S{k:02d}", "name": f"Bench site {k}", "timezone": zone} for k in range(1, sites + 1)
    ]
    protocol_path = workdir / "realistic-day-protocol.yaml"
    protocol_path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
    app = create_app(Config.from_env(seed_env(database_url, secret_key, workdir)))
    runner = app.test_cli_runner()

    def cli(*args: str, env: dict[str, str] | None = None) -> None:
        result = runner.invoke(args=list(args), env=env)
        if result.exit_code != 0:
            raise RuntimeError(f"flask {' '.join(args)} failed: {result.output}{result.exception!r}")

    cli("db", "upgrade")
    cli("protocol", "load", str(protocol_path))
    study_code = document["study"]["code"]
    for k in range(1, sites + 1):
        cli(
            "staff",
            "create",
            "--study",
            study_code,
            "--email",
            nurse_email(k),
            "--role",
            "nurse",
            "--site",
            f"S{k:02d}",
            env={"LIMBTRACK_STAFF_PASSWORD": NURSE_PASSWORD},
        )
    with app.app_context():
        keyed_hash = auth_settings().secrets.keyed_hash
    app.extensions["limbtrack_db"].engine.dispose()
    log(f"migrated, protocol with {sites} sites in {zone}, {sites} nurses: {time.perf_counter() - t0:.1f}s")

    t0, cpu0 = time.perf_counter(), time.process_time()
    tables = {name: Base.metadata.tables[name] for name in TABLES}
    tz = ZoneInfo(zone)
    today = now.astimezone(tz).date()
    offset_min = int((now.astimezone(tz).utcoffset() or timedelta()).total_seconds() // 60)
    rng = random.Random(20261207)  # noqa: S311 (test data)

    @functools.cache
    def at(day: date, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(day, dtime(hour, minute), tz).astimezone(UTC)

    def new_uuid() -> str:  # PostgreSQL reads 32 hex digits as a uuid; cheaper than uuid4()
        return f"{rng.getrandbits(128):032x}"

    def hexdigest() -> str:
        return f"{rng.getrandbits(256):064x}"

    counts: dict[str, int] = {}
    with psycopg.connect(database_url) as connection, connection.cursor() as cursor:
        study_id = cursor.execute("SELECT id FROM study WHERE code = %s", (study_code,)).fetchone()[0]  # type: ignore[index]
        site_ids: dict[str, int] = dict(
            cursor.execute("SELECT code, id FROM site WHERE study_id = %s", (study_id,)).fetchall()
        )
        cohort_ids = [
            r[0] for r in cursor.execute("SELECT id FROM cohort WHERE study_id = %s ORDER BY code", (study_id,))
        ]
        nurse_ids: dict[str, int] = dict(cursor.execute("SELECT email, id FROM staff_user").fetchall())
        start = cursor.execute("SELECT coalesce(max(id), 0) + 1 FROM participant").fetchone()[0]  # type: ignore[index]
        pids = list(range(start, start + n))
        site_of = {pid: 1 + (pid - start) % sites for pid in pids}
        day0 = {pid: today - timedelta(days=study_day_of(pid)) for pid in pids}

        def day(pid: int, d: int) -> date:
            return day0[pid] + timedelta(days=d)

        counts["participant"] = _copy(
            cursor,
            tables["participant"],
            (
                "id", "study_id", "site_id", "cohort_id", "subject_code", "target_leg", "timezone", "language",
                "day0_date", "status", "consent_version", "consent_date", "enrolled_at", "client_uuid",
                "request_fingerprint", "created_at", "updated_at",
            ),
            (
                (
                    pid, study_id, site_ids[f"S{site_of[pid]:02d}"], cohort_ids[pid % len(cohort_ids)],
                    f"S{site_of[pid]:02d}-{pid:05d}", "right" if pid % 2 else "left", zone,
                    "fa" if pid % 3 else "en", day0[pid], "active", "1.0", day(pid, -16),
                    at(day(pid, -15), 9), uuid.uuid4(), hexdigest(), at(day(pid, -16), 11), at(day(pid, -15), 9),
                )
                for pid in pids
            ),
        )  # fmt: skip
        expires = now + timedelta(days=3)
        counts["device"] = _copy(
            cursor,
            tables["device"],
            ("id", "participant_id", "platform", "app_version", "activated_at"),
            ((pid, pid, "android" if pid % 3 else "ios", "2.3.1", at(day(pid, -15), 10)) for pid in pids),
        )
        counts["auth_session"] = _copy(
            cursor,
            tables["auth_session"],
            ("id", "kind", "device_id", "created_at", "expires_at"),
            ((pid, "patient", pid, now - timedelta(hours=1), expires) for pid in pids),
        )
        counts["auth_token"] = _copy(
            cursor,
            tables["auth_token"],
            ("id", "session_id", "kind", "token_hash", "issued_at", "expires_at"),
            (
                (pid, pid, "access", keyed_hash(access_token(secret_key, pid)), now - timedelta(hours=1), expires)
                for pid in pids
            ),
        )

        def entry(ids: Iterator[int], pid: int, d: int, recorded: datetime, delay_s: int) -> tuple[Any, ...]:
            return (
                next(ids), pid, new_uuid(), hexdigest(), recorded, offset_min,
                recorded + timedelta(seconds=delay_s), day(pid, d), d, False, "participant", pid,
            )  # fmt: skip

        entry_columns = (
            "id", "participant_id", "client_uuid", "request_fingerprint", "recorded_at",
            "recorded_utc_offset_minutes", "received_at", "local_date", "study_day", "late_entry",
            "entered_by_type", "entered_by_id",
        )  # fmt: skip

        def history(pid: int, every: int) -> range:
            last = study_day_of(pid) - (OFFLINE_DAYS if is_offline(pid) and every == 1 else 0)
            return range(FIRST_DAY, last, every)

        pain_ids = iter(range(1, 10**9))

        def pain_rows() -> Iterator[tuple[Any, ...]]:
            for pid in pids:
                level = 3 + pid % 6
                for d in history(pid, 1):
                    recorded = at(day(pid, d), 20) + timedelta(seconds=rng.randrange(7200))
                    score = min(10, max(0, level + rng.randint(-1, 1)))
                    yield (*entry(pain_ids, pid, d, recorded, rng.randrange(1, 5)), score, day(pid, d))

        counts["pain_score"] = _copy(cursor, tables["pain_score"], (*entry_columns, "score", "diary_date"), pain_rows())

        walk_ids = iter(range(1, 10**9))

        def walk_rows() -> Iterator[tuple[Any, ...]]:
            for pid in pids:
                for d in history(pid, 7):
                    recorded = at(day(pid, d), 10) + timedelta(seconds=rng.randrange(36000))
                    distance = round(rng.uniform(150.0, 480.0), 1)
                    yield (
                        *entry(walk_ids, pid, d, recorded, rng.randrange(361, 420)),
                        "phone_gps", distance, 360, False, 0, 0, False, "none", round(distance / 0.7), False,
                    )  # fmt: skip

        counts["walk_test"] = _copy(
            cursor,
            tables["walk_test"],
            (
                *entry_columns, "method", "distance_m", "duration_s", "stopped_early", "rests_count",
                "rests_total_s", "supplemental_oxygen", "assistive_device", "step_count", "needs_review",
            ),
            walk_rows(),
        )  # fmt: skip

        ulcer_pids = [pid for pid in pids if has_ulcer(pid)]
        ulcer_of = {pid: k for k, pid in enumerate(ulcer_pids, 1)}
        nurse_of = {pid: nurse_ids[nurse_email(site_of[pid])] for pid in pids}
        counts["ulcer"] = _copy(
            cursor,
            tables["ulcer"],
            (
                "id", "participant_id", "client_uuid", "request_fingerprint", "label", "leg", "location",
                "first_seen_on", "created_at", "created_by_type", "created_by_id",
            ),
            (
                (
                    ulcer_of[pid], pid, uuid.uuid4(), hexdigest(), "A", "right" if pid % 2 else "left", "heel",
                    day(pid, FIRST_DAY), at(day(pid, FIRST_DAY), 9, 30), "staff", nurse_of[pid],
                )
                for pid in ulcer_pids
            ),
        )  # fmt: skip
        photo_ids = iter(range(1, 10**9))
        review_ids = iter(range(1, 10**9))
        reviews: list[tuple[Any, ...]] = []

        def photo_rows() -> Iterator[tuple[Any, ...]]:
            for pid in ulcer_pids:
                days = history(pid, 7)
                for d in days:
                    recorded = at(day(pid, d), 10) + timedelta(seconds=rng.randrange(36000))
                    pending = d == days[-1] and ulcer_of[pid] % PENDING_EVERY == 0
                    row = entry(photo_ids, pid, d, recorded, rng.randrange(2, 60))
                    yield (
                        *row, ulcer_of[pid], hexdigest(), rng.randrange(2_000_000, 5_000_000), "JPEG",
                        f"{hexdigest()}.jpg", "image/jpeg", 4000, 3000, 20.0, "[20, 70, 200]",
                        "pending" if pending else "accepted",
                    )  # fmt: skip
                    if not pending:
                        area = round(rng.uniform(50.0, 1500.0), 1)
                        reviewed = at(day(pid, d + 1), 9) + timedelta(seconds=rng.randrange(14400))
                        reviews.append(
                            (next(review_ids), row[0], "accept", area, round(area * 95, 1), reviewed, nurse_of[pid])
                        )

        counts["ulcer_photo"] = _copy(
            cursor,
            tables["ulcer_photo"],
            (
                *entry_columns, "ulcer_id", "received_sha256", "received_bytes", "received_format", "storage_key",
                "media_type", "width", "height", "marker_side_mm", "marker_color_srgb", "review_status",
            ),
            photo_rows(),
        )  # fmt: skip
        counts["photo_review"] = _copy(
            cursor,
            tables["photo_review"],
            ("id", "photo_id", "decision", "area_mm2", "area_px", "reviewed_at", "reviewed_by_id"),
            reviews,
        )
        counts["flag"] = _copy(
            cursor,
            tables["flag"],
            ("id", "participant_id", "kind", "urgent", "dedupe_key", "detail", "raised_at"),
            (
                (k, pid, "missed_diary", False, f"bench:missed_diary:{pid}", json.dumps({"days": 2}), at(today, 8))
                for k, pid in enumerate((pid for pid in pids if pid % FLAG_EVERY == 3), 1)
            ),
        )
        for name in TABLES:  # the services' next inserts take the next ids
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT coalesce(max(id), 1) FROM \"{name}\"))"  # noqa: S608
            )
        connection.commit()
    log(f"COPY {sum(counts.values()):,} rows ({', '.join(f'{k} {v:,}' for k, v in counts.items())}): "
        f"{time.perf_counter() - t0:.1f}s, of which {time.process_time() - cpu0:.1f}s CPU here")  # fmt: skip
    t0 = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    log(f"VACUUM ANALYZE: {time.perf_counter() - t0:.1f}s")
    return today


def load_cohort(database_url: str, seeded: Seeded) -> Cohort:
    """Everyone's token, study day and ulcer, read back from the run's database."""
    zone = ZoneInfo(seeded.zone)
    with psycopg.connect(database_url) as connection:
        ulcers: dict[int, int] = dict(
            connection.execute("SELECT participant_id, min(id) FROM ulcer GROUP BY participant_id")
        )
        rows: Iterable[tuple[int, date]] = connection.execute(
            "SELECT id, day0_date FROM participant WHERE status = 'active' ORDER BY id"
        ).fetchall()
    patients = [
        Patient(
            pid,
            access_token(seeded.secret_key, pid),
            zone,
            (seeded.local_date - day0).days,
            ulcers.get(pid),
            is_offline(pid),
        )
        for pid, day0 in rows
    ]
    return Cohort(patients, [nurse_email(k) for k in range(1, seeded.sites + 1)])
