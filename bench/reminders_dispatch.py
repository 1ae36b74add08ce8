"""Benchmark: `flask reminders dispatch` against a bare `messaging.send_each` loop, both
through the real firebase-admin SDK to the local fake FCM, in one run.

Run from the repository root (PostgreSQL on 127.0.0.1:5432, trust auth, user postgres):

    .venv/bin/python bench/reminders_dispatch.py                 # N = 10,000; sizes 2,500 5,000 10,000
    .venv/bin/python bench/reminders_dispatch.py --participants 10000 --sizes 2500,5000,10000
    .venv/bin/python bench/reminders_dispatch.py --participants 2000 --sizes 2000 --profile

The requirement: with N participants whose diary reminder is due, the dispatcher reaches
at least 80 % of the bare SDK's throughput (selection, rendering and the delivery log cost
little), and its memory is flat in N (it streams participants, it does not load them all).

Per size, in about a minute for 10,000:
 1. a fresh database (limbtrack_bench_<time>_<pid>), migrated, the demo protocol loaded;
    N participants written with set-based inserts (Core executemany), the rows the
    services write (participant created a week ago and enrolled this morning, an
    activated app install `device`, one `push_device` registered from it; no audit
    rows, which dispatch never reads), in a time zone where it is now 20:xx, so the
    protocol's 20:00 diary reminder is due at the real current time (Asia/Tehran when
    it is 20:xx there, else the Etc/GMT±h zone where it is): the CLI runs unmodified,
    with its own clock. Day 0 is in three days: no visit, injection or weekly reminder
    is due, exactly one diary reminder per participant. VACUUM ANALYZE afterwards;
 2. the fake FCM (tests/fake_fcm.py) serves in a process of its own, so its CPU never
    shares a GIL with what is measured; both measurements use it alike;
 3. bare, dispatch, bare: each in a fresh child process (the checkout's modules compiled
    to bytecode first, as in any deployment);
    * bare: the same N messages (built with backend.reminders.senders._message from the
      same tokens, texts and data) handed to `messaging.send_each` 500 at a time; the
      timed loop is the send_each calls only (building and the token fetch come first);
    * dispatch: `flask reminders dispatch` as `flask jobs crontab` runs it (flask.cli.main,
      FLASK_APP=backend.app:create_jobs_app, LIMBTRACK_ENV=production,
      FIREBASE_CREDENTIALS = a generated service account whose
      token_uri is the fake's). The wrapper only points the SDK's FCM_URL at the fake
      (there is no setting for it) and, unless --no-breakdown, wraps a few functions of
      backend.reminders (dispatch, plan, send) with timers and counts SQL statements (a few hundred
      timer calls in all); the wall time is the whole process, interpreter start included;
 4. checks: every reminder SENT, N delivery rows `sent`, the fake received exactly the N
    tokens once each, and the dispatcher's wire JSON has the bare messages' shape;
 5. drops the database (also on Ctrl-C and SIGTERM).
Then prints the table: wall time, messages/s, CPU of the client, of the fake and of
PostgreSQL, peak RSS (VmHWM of the child, read by itself) against an imports-only
baseline, the ratio dispatch/bare and the dispatcher's breakdown.
--profile adds an unmeasured run under cProfile (main thread only: send_each's worker
threads are not profiled, their time shows as the main thread waiting).

Exit status: 0 when every run was valid (whatever the goals), 2 when a check failed,
1 with --strict when a goal is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RATIO_GOAL = 0.8
BATCH = 500  # backend.reminders.senders.MAX_BATCH: the most one send_each call takes
CHILD_TIMEOUT_S = 900.0
FCM_PATH = "/v1/projects/{0}/messages:send"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- the children (keep their imports lazy: the parent's modules must not weigh on them) ----


def _point_sdk_at(fcm_url: str) -> None:
    from firebase_admin import messaging

    messaging._MessagingService.FCM_URL = fcm_url + FCM_PATH


def _peak_rss_mb() -> float:
    """This process's peak RSS since exec (VmHWM). Not wait4's ru_maxrss: that counts the
    pages the child shared with this bench between fork and exec, so a bench grown to 150
    MB made every child look 150 MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _instrument(stats: dict[str, list[float]]) -> None:
    """Time a few functions of the dispatcher (own time, nested calls subtracted) and count
    the SQL statements each issues. Wraps module attributes in this process only."""
    import functools

    from firebase_admin import messaging
    from sqlalchemy import Engine, event

    import backend.cli as cli
    import backend.reminders.dispatch as dispatch
    import backend.reminders.plan as plan
    import backend.reminders.send as send
    import backend.reminders.senders as senders

    stack: list[list[Any]] = [["outside dispatch()", 0.0, 0.0]]

    def wrap(owner: Any, names: str, label: str) -> None:
        """`names`: the function's name, or its former names too ("new|old"): backend/ moves."""
        name = next((n for n in names.split("|") if hasattr(owner, n)), None)
        if name is None:
            stats.setdefault(f"(not instrumented: {names})", [0.0, 0, 0, 0.0])
            return
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            frame: list[Any] = [label, time.perf_counter(), 0.0]
            stack.append(frame)
            try:
                return original(*args, **kwargs)
            finally:
                stack.pop()
                elapsed = time.perf_counter() - frame[1]
                entry = stats.setdefault(label, [0.0, 0, 0, 0.0])
                entry[0] += elapsed - frame[2]  # own time
                entry[1] += 1
                entry[3] += elapsed  # inclusive
                stack[-1][2] += elapsed

        setattr(owner, name, timed)

    wrap(cli, "dispatch_due_reminders|dispatch", "dispatch(): rest")
    wrap(senders.FcmSender, "check", "sender.check (OAuth token)")
    # Each is wrapped in the module that calls it (the name is looked up there).
    wrap(dispatch, "close_abandoned", "close abandoned")
    wrap(plan, "_read_chunk", "plan: read a chunk of participants")
    wrap(plan, "_plan_chunk", "plan: decide, insert (claimed), commit")
    wrap(dispatch, "claim_due", "claim from the queue (UPDATE RETURNING)")
    wrap(dispatch, "send_claimed", "send: devices, people, progress, render, pushes")
    wrap(senders.FcmSender, "send", "send: Message objects, results")
    wrap(messaging, "send_each", "send_each (the SDK)")
    wrap(send, "record", "record (delivery log, states, commit)")

    @event.listens_for(Engine, "before_cursor_execute")
    def _count(*_args: Any) -> None:
        stats.setdefault(stack[-1][0], [0.0, 0, 0, 0.0])[2] += 1


def _child_dispatch(fcm_url: str, report: Path, profile: Path | None, breakdown: bool) -> int:
    started = time.perf_counter()
    _point_sdk_at(fcm_url)
    stats: dict[str, list[float]] = {}
    if breakdown:
        _instrument(stats)
    os.environ["FLASK_APP"] = "backend.app:create_jobs_app"
    sys.argv = ["flask", "reminders", "dispatch"]
    from flask.cli import main as flask_main

    code: int | str | None = 0
    profiler = None
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        flask_main()
    except SystemExit as exc:
        code = exc.code
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(str(profile))
        report.write_text(
            json.dumps({"stats": stats, "in_process_s": time.perf_counter() - started, "peak_rss_mb": _peak_rss_mb()})
        )
    return code if isinstance(code, int) else (0 if code is None else 1)


def _child_bare(fcm_url: str, report: Path, credentials_path: str, pushes_path: Path) -> int:
    from datetime import UTC, datetime

    import firebase_admin
    import requests
    from firebase_admin import _http_client, credentials, messaging

    from backend.reminders.senders import Push, _message

    _point_sdk_at(fcm_url)
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    messages = []
    for p in json.loads(pushes_path.read_text()):
        expires_at = datetime.fromisoformat(p["expires_at"])
        ttl = int((expires_at - now).total_seconds())
        push = Push(p["token"], p["platform"], p["title"], p["body"], p["data"], p["kind"], ttl, expires_at)
        messages.append(_message(push))
    build_s = time.perf_counter() - t0
    app = firebase_admin.initialize_app(credentials.Certificate(credentials_path), name="bench-bare")
    app.credential.get_access_token()  # as the dispatcher's sender.check(), before the loop
    # The SDK mounts this adapter (a pool of 100) for https://fcm.googleapis.com only; mount
    # the same for the fake's address, or the bare loop would get requests' default pool of
    # 10 for http:// and discard most of its 500 connections after each call.
    adapter = requests.adapters.HTTPAdapter(
        pool_connections=100, pool_maxsize=100, max_retries=_http_client.DEFAULT_RETRY_CONFIG
    )
    messaging._get_messaging_service(app)._client.session.mount(fcm_url, adapter)
    ok = 0
    t0 = time.perf_counter()
    for start in range(0, len(messages), BATCH):
        response = messaging.send_each(messages[start : start + BATCH], app=app)
        ok += response.success_count
    send_s = time.perf_counter() - t0
    firebase_admin.delete_app(app)
    report.write_text(
        json.dumps(
            {"build_s": build_s, "send_s": send_s, "ok": ok, "messages": len(messages), "peak_rss_mb": _peak_rss_mb()}
        )
    )
    return 0


def _child_baseline(fcm_url: str, report: Path) -> int:
    """The imports and the app of the dispatch child, nothing sent: the RSS floor."""
    _point_sdk_at(fcm_url)
    from backend.app import create_jobs_app
    from backend.reminders import dispatch, senders  # noqa: F401

    create_jobs_app()
    report.write_text(json.dumps({"peak_rss_mb": _peak_rss_mb()}))
    return 0


# --- the fake FCM, in a process of its own ---------------------------------------------------


def _fake_server(conn: Any) -> None:
    from tests.fake_fcm import FakeFcm

    with FakeFcm() as fake:
        conn.send(fake.url)
        while True:
            command = conn.recv()
            if command == "stop":
                break
            if command == "reset":
                fake.reset()
                conn.send(None)
            elif command == "summary":
                with fake._lock:
                    received = list(fake.received)
                    token_requests = fake.token_requests
                tokens = [r.token for r in received if r.status == 200]
                conn.send(
                    {
                        "ok": len(tokens),
                        "errors": len(received) - len(tokens),
                        "tokens": tokens,
                        "token_requests": token_requests,
                        "sample": received[0].body if received else None,
                    }
                )
    conn.close()


@dataclass
class Fake:
    process: Any
    conn: Any
    url: str

    def call(self, command: str) -> Any:
        self.conn.send(command)
        if not self.conn.poll(60):
            raise RuntimeError(f"the fake FCM did not answer {command!r}")
        return self.conn.recv()

    def stop(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self.conn.send("stop")
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)


@contextlib.contextmanager
def fake_fcm() -> Any:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    mine, theirs = context.Pipe()
    process = context.Process(target=_fake_server, args=(theirs,), name="fake-fcm", daemon=True)
    process.start()
    if not mine.poll(60):
        process.terminate()
        raise RuntimeError("the fake FCM did not start")
    fake = Fake(process, mine, mine.recv())
    try:
        yield fake
    finally:
        fake.stop()


# --- data --------------------------------------------------------------------------------------


@dataclass
class Dataset:
    n: int
    zone: str
    local_now: str
    tokens: set[str]
    pushes_path: Path
    seconds: float


def pick_zone(now: Any) -> str:
    """A zone where it is 20:xx now (the protocol's diary reminder time): Asia/Tehran if it
    is 20:xx there, else the whole-hour Etc zone (Etc/GMT-3 is UTC+3)."""
    from zoneinfo import ZoneInfo

    if now.astimezone(ZoneInfo("Asia/Tehran")).hour == 20:
        return "Asia/Tehran"
    offset = (20 - now.hour) % 24
    if offset > 14:
        offset -= 24
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def seed(database_url: str, n: int, workdir: Path) -> Dataset:
    """Migrate, load the demo protocol, write N enrolled participants, each with an app
    install and a registered push device, whose diary reminder is due now; and the N
    pushes the dispatcher will send (for the bare loop)."""
    from datetime import UTC, datetime, timedelta
    from datetime import time as dtime
    from zoneinfo import ZoneInfo

    from sqlalchemy import Table, insert, select, text

    from backend.core.actor import Actor
    from backend.core.idempotency import fingerprint
    from backend.core.timeutil import utcnow
    from backend.db import Database, make_engine
    from backend.migrations import upgrade
    from backend.participants.models import Device, Leg, Participant, ParticipantStatus
    from backend.reminders.models import Platform, PushDevice, ReminderKind
    from backend.studies.document import build_protocol
    from backend.studies.models import Cohort, Site
    from backend.studies.protocol import DEMO_PROTOCOL_PATH, read_protocol_file
    from backend.studies.service import find_study, load_protocol

    started = time.monotonic()
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        now = utcnow()
        zone = pick_zone(now)
        tz = ZoneInfo(zone)
        today = now.astimezone(tz).date()
        enrolled_at = datetime.combine(today, dtime(8, 0), tz).astimezone(UTC)  # this morning, before 20:00
        created_at = enrolled_at - timedelta(days=7)
        activated_at = enrolled_at + timedelta(minutes=20)
        registered_at = activated_at + timedelta(minutes=1)
        document, sha256 = read_protocol_file(DEMO_PROTOCOL_PATH)
        hours, minutes = document["diary"]["grace_until"].split(":")
        grace = dtime(int(hours), int(minutes))
        expires_at = datetime.combine(today + timedelta(days=1), grace, tz).astimezone(UTC)
        with Database(engine).session_scope() as session:
            load_protocol(session, document, sha256, Actor.system("bench"), created_at - timedelta(days=30))
            study = find_study(session, document["study"]["code"])
            sites = {s.code: s.id for s in session.scalars(select(Site).where(Site.study_id == study.id))}
            cohorts = {c.code: c.id for c in session.scalars(select(Cohort).where(Cohort.study_id == study.id))}
            study_id = study.id
            session.commit()

        languages = document["languages"]  # en, fa, zh
        locales = {"en": "en-GB", "fa": "fa-IR", "zh": "zh-CN"}
        people = []
        for i in range(n):
            site = document["sites"][i % len(document["sites"])]["code"]
            cohort = document["cohorts"][i % len(document["cohorts"])]["code"]
            data = {  # the validated create payload, whose fingerprint the service stores
                "client_uuid": uuid.uuid4(),
                "subject_code": f"BENCH-{i:05d}",
                "site_code": site,
                "cohort_code": cohort,
                "target_leg": "right" if i % 2 else "left",
                "timezone": zone,
                "language": languages[i % len(languages)],
                "day0_date": today + timedelta(days=3),
                "consent_version": "1.0",
                "consent_date": created_at.astimezone(tz).date(),
            }
            people.append(data)

        tokens: list[str] = []
        pushes = []
        with engine.begin() as connection:
            participant_ids = connection.scalars(
                insert(cast(Table, Participant.__table__)).returning(
                    Participant.__table__.c.id, sort_by_parameter_order=True
                ),
                [
                    {
                        "study_id": study_id,
                        "site_id": sites[d["site_code"]],
                        "cohort_id": cohorts[d["cohort_code"]],
                        "subject_code": d["subject_code"],
                        "target_leg": Leg(d["target_leg"]),
                        "timezone": d["timezone"],
                        "language": d["language"],
                        "day0_date": d["day0_date"],
                        "status": ParticipantStatus.ACTIVE,
                        "consent_version": d["consent_version"],
                        "consent_date": d["consent_date"],
                        "enrolled_at": enrolled_at,
                        "withdrawn_at": None,
                        "withdrawal_reason": None,
                        "completed_at": None,
                        "client_uuid": d["client_uuid"],
                        "request_fingerprint": fingerprint(d),
                        "created_at": created_at,
                        "updated_at": enrolled_at,  # the enrolment's change_status
                    }
                    for d in people
                ],
            ).all()
            platforms = [Platform.IOS if i % 4 == 3 else Platform.ANDROID for i in range(n)]
            device_ids = connection.scalars(
                insert(cast(Table, Device.__table__)).returning(Device.__table__.c.id, sort_by_parameter_order=True),
                [
                    {
                        "participant_id": pid,
                        "platform": platforms[i].value,
                        "app_version": "1.4.0",
                        "activated_at": activated_at,
                        "last_seen_at": registered_at,
                        "revoked_at": None,
                    }
                    for i, pid in enumerate(participant_ids)
                ],
            ).all()
            rows = []
            for i, (pid, device_id) in enumerate(zip(participant_ids, device_ids, strict=True)):
                # An FCM registration token looks like this (about 160 characters).
                token = f"{secrets.token_urlsafe(16)}:APA91b{secrets.token_urlsafe(105)}"
                tokens.append(token)
                rows.append(
                    {
                        "participant_id": pid,
                        "device_id": device_id,
                        "fcm_token": token,
                        "platform": platforms[i],
                        "app_version": "1.4.0",
                        "locale": locales.get(people[i]["language"], "en-GB"),
                        "registered_at": registered_at,
                        "refreshed_at": registered_at,
                        "retired_at": None,
                        "retired_reason": None,
                    }
                )
                kind = ReminderKind.REST_PAIN_DIARY
                text_of = build_protocol(document).text(kind.value, people[i]["language"])
                assert text_of is not None  # the demo protocol has diary texts
                title, body = text_of.title, text_of.body
                pushes.append(
                    {
                        "token": token,
                        "platform": platforms[i].value,
                        "title": title,
                        "body": body,
                        # What the dispatcher sends; reminder ids are 1..N in a fresh database.
                        "data": {
                            "kind": kind.value,
                            "local_date": today.isoformat(),
                            "reminder_id": str(i + 1),
                            "deep_link": f"limbtrack://tasks/{kind.value}?date={today.isoformat()}",
                        },
                        "kind": kind.value,
                        "expires_at": expires_at.isoformat(),
                    }
                )
            connection.execute(insert(cast(Table, PushDevice.__table__)), rows)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))  # a database in service has statistics
        pushes_path = workdir / f"pushes_{n}.json"
        pushes_path.write_text(json.dumps(pushes))
        return Dataset(
            n,
            zone,
            now.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
            set(tokens),
            pushes_path,
            time.monotonic() - started,
        )
    finally:
        engine.dispose()


def check_database(database_url: str, n: int) -> tuple[bool, str]:
    from sqlalchemy import func, select

    from backend.db import make_engine
    from backend.reminders.models import DeliveryOutcome, PushDelivery, Reminder

    engine = make_engine(database_url)
    counts: dict[str, dict[str, int]] = {}
    try:
        with engine.connect() as connection:
            for name, column in (
                ("statuses", Reminder.status),
                ("kinds", Reminder.kind),
                ("outcomes", PushDelivery.outcome),
            ):
                rows = connection.execute(select(column, func.count()).group_by(column)).all()
                counts[name] = {str(value): count for value, count in rows}  # StrEnum: str() is the value
            distinct = connection.scalar(select(func.count(func.distinct(PushDelivery.reminder_id)))) or 0
    finally:
        engine.dispose()
    statuses, kinds, outcomes = counts["statuses"], counts["kinds"], counts["outcomes"]
    ok = (
        statuses == {"sent": n}
        and kinds == {"rest_pain_diary": n}
        and outcomes == {DeliveryOutcome.SENT.value: n}
        and distinct == n
    )
    return ok, f"reminders {statuses}, kinds {kinds}, deliveries {outcomes} for {distinct} reminders"


def reset_reminders(database_url: str) -> None:
    """Undo a dispatch: no reminders, no deliveries; VACUUM so the next round starts alike."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("DELETE FROM push_delivery")
        connection.execute("DELETE FROM reminder")
        connection.execute("VACUUM ANALYZE push_delivery, reminder")


def shape(value: Any) -> Any:
    """The keys of a JSON value, recursively (values left out: tokens, ids and TTLs differ)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [shape(v) for v in value[:1]]
    return type(value).__name__


# --- running the children --------------------------------------------------------------------


@dataclass
class Run:
    what: str
    n: int
    wall_s: float  # the child process, start to exit
    cpu_s: float  # the child's user + system CPU
    rss_mb: float
    fake_cpu_s: float
    pg_cpu_s: float
    others_cores: float  # CPU other processes of the machine took meanwhile, in cores
    report: dict[str, Any] = field(default_factory=dict)
    fake: dict[str, Any] = field(default_factory=dict)
    stdout: str = ""
    label: str = ""
    stderr_lines: int = 0  # log lines the child wrote (the app logs JSON to stderr)

    @property
    def timed_s(self) -> float:
        """The figure compared: the send_each loop for bare, the whole process for dispatch."""
        return float(self.report["send_s"]) if self.what == "bare" else self.wall_s


def proc_cpu(pid: int, reaped_children: bool = False) -> float:
    """CPU seconds of a process so far (plus those of its children it reaped, if asked)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def postgres_cpu() -> float:
    """CPU seconds of PostgreSQL so far: live processes, and through the postmaster's
    reaped-children counters the backends that ended (the child's connection ends with it)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    total += proc_cpu(int(entry.name), reaped_children=True)
    return total


def run_child(what: str, n: int, extra: list[str], env: dict[str, str], workdir: Path, fake: Fake | None) -> Run:
    from bench.pain_scores import _die_with_parent, machine_cpu

    report = workdir / f"report_{what}_{n}_{time.monotonic_ns()}.json"
    out, err = workdir / "child.out", workdir / "child.err"
    command = [sys.executable, str(Path(__file__).resolve()), "--child", what, "--report", str(report), *extra]
    if fake is not None:
        fake.call("reset")
    fake_cpu0, pg_cpu0, busy0 = (proc_cpu(fake.process.pid) if fake else 0.0), postgres_cpu(), machine_cpu()[0]
    self0 = time.process_time()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(  # noqa: S603 (this file, fixed arguments)
            command, env=env, cwd=ROOT, stdout=stdout, stderr=stderr, preexec_fn=_die_with_parent
        )
        deadline = time.monotonic() + CHILD_TIMEOUT_S
        while True:  # bounded by the deadline
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.01)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    fake_cpu = (proc_cpu(fake.process.pid) - fake_cpu0) if fake else 0.0
    pg_cpu = postgres_cpu() - pg_cpu0
    others = machine_cpu()[0] - busy0 - (usage.ru_utime + usage.ru_stime) - fake_cpu - pg_cpu
    others -= time.process_time() - self0
    if process.returncode != 0:
        raise RuntimeError(
            f"{what} child exited with {process.returncode}:\n{out.read_text(errors='replace')[-2000:]}"
            f"\n{err.read_text(errors='replace')[-4000:]}"
        )
    said = json.loads(report.read_text()) if report.exists() else {}
    run = Run(
        what,
        n,
        wall,
        usage.ru_utime + usage.ru_stime,
        said.get("peak_rss_mb", float("nan")),
        fake_cpu,
        pg_cpu,
        max(0.0, others) / wall,
        said,
        fake.call("summary") if fake is not None else {},
        out.read_text(errors="replace").strip(),
        stderr_lines=len(err.read_text(errors="replace").splitlines()),
    )
    if run.stderr_lines:
        first = err.read_text(errors="replace").splitlines()[0]
        log(f"  {what} child wrote {run.stderr_lines} lines to stderr, the first: {first[:300]}")
    return run


# --- the report ---------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def print_runs(runs: list[Run], baseline_mb: float) -> None:
    print()
    print("== Wall time, throughput, CPU and memory (bare: the send_each loop; dispatch: the whole CLI process)")
    print(
        f"  {'N':>6}  {'run':<16} {'timed s':>8} {'msgs/s':>7}  {'process s':>9}  "
        f"{'CPU s: client':>12} {'fake':>6} {'PG':>6}  {'others':>6}  {'peak RSS MB':>11} {'- baseline':>10}"
    )
    for r in runs:
        print(
            f"  {r.n:>6}  {r.label:<16} {r.timed_s:>8.2f} {r.n / r.timed_s:>7.0f}  {r.wall_s:>9.2f}  "
            f"{r.cpu_s:>12.2f} {r.fake_cpu_s:>6.2f} {r.pg_cpu_s:>6.2f}  {r.others_cores:>6.2f}  {r.rss_mb:>11.1f} "
            f"{r.rss_mb - baseline_mb:>10.1f}"
        )
    print(f"  baseline: the dispatch child's imports and app, nothing sent: {baseline_mb:.1f} MB peak RSS")
    print("  others: cores other processes of the machine kept busy meanwhile (2 cores here): figures")
    print("  of a run with others > 0.3 are pessimistic")


def ratios(runs: list[Run]) -> list[tuple[int, Run, float, float, float]]:
    """Per dispatch run: (N, the run, bare send_each s (mean of the bare runs just before
    and after it), ratio on the CLI process wall time, ratio on dispatch() alone)."""
    out = []
    for i, dispatch in enumerate(runs):
        if dispatch.what != "dispatch":
            continue
        around = [r.timed_s for r in runs[max(0, i - 1) : i + 2] if r.what == "bare" and r.n == dispatch.n]
        if not around:
            continue
        bare_s = sum(around) / len(around)
        stats = dispatch.report.get("stats", {})
        in_dispatch = sum(v[0] for k, v in stats.items() if k != "outside dispatch()")
        inner = bare_s / in_dispatch if in_dispatch else float("nan")
        out.append((dispatch.n, dispatch, bare_s, bare_s / dispatch.wall_s, inner))
    return out


def print_breakdown(run: Run) -> None:
    stats = run.report.get("stats", {})
    if not stats:
        return
    in_dispatch = sum(v[0] for k, v in stats.items() if k != "outside dispatch()")
    outside = run.wall_s - in_dispatch
    print()
    print(f"== Where the dispatch of {run.n} goes (own time; nested calls subtracted; wall {run.wall_s:.2f} s)")
    print(f"  {'step':<40} {'s':>7} {'share':>6} {'calls':>6} {'SQL':>6}")
    for label, (own, calls, statements, _inclusive) in sorted(stats.items(), key=lambda kv: -kv[1][0]):
        if label == "outside dispatch()":
            continue
        print(f"  {label:<40} {own:>7.2f} {own / run.wall_s:>6.1%} {calls:>6} {statements:>6}")
    print(
        f"  {'outside dispatch(): interpreter, imports,':<40} {outside:>7.2f} {outside / run.wall_s:>6.1%} "
        f"{'':>6} {stats.get('outside dispatch()', [0, 0, 0])[2]:>6}"
    )
    print("    app, sender (service account), close")
    sql = sum(v[2] for v in stats.values())
    print(f"  SQL statements in all: {sql} ({sql / run.n:.2f} per reminder)")


def print_profile(path: Path, run: Run) -> None:
    import io
    import pstats
    from collections import defaultdict

    from bench.per_request import _package

    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    by_package: dict[str, float] = defaultdict(float)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        by_package[_package(filename)] += tottime
    total = sum(by_package.values())
    print()
    print(
        f"== cProfile of a dispatch of {run.n} (unmeasured run, main thread only: send_each's "
        f"threads are not profiled; wall {run.wall_s:.2f} s under the profiler)"
    )
    print("  own time by package:")
    for name, seconds in sorted(by_package.items(), key=lambda item: -item[1]):
        if seconds / total >= 0.005:
            print(f"    {seconds:7.2f} s  {seconds / total:5.1%}  {name}")
    stats.sort_stats("tottime").print_stats(20)
    stats.sort_stats("cumulative").print_stats(r"backend/", 25)
    print(out.getvalue())


# --- main --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--admin-url",
        "--database-url",
        dest="admin_url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL to create the benchmark databases on (loopback only)",
    )
    parser.add_argument("--participants", type=int, default=10_000, help="N for the headline (default 10000)")
    parser.add_argument(
        "--sizes", default=None, help="comma-separated sizes for the memory series (default N/4,N/2,N); N is added"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="dispatch runs per size, each between two bare runs (default 1; the ratio is their median)",
    )
    parser.add_argument("--profile", action="store_true", help="also an unmeasured dispatch of N under cProfile")
    parser.add_argument("--no-breakdown", action="store_true", help="no timers or SQL counting in the dispatch child")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the benchmark databases")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is not met")
    parser.add_argument(
        "--quiet-wait", type=float, default=20.0, help="seconds to wait for other processes to go idle (default 20)"
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--report", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--fcm-url", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--credentials", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--pushes", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return args
    if not args.admin_url.split("@")[-1].startswith(("127.0.0.1", "localhost", "[::1]")):
        parser.error("--admin-url must point at a PostgreSQL on loopback")
    try:
        sizes = {int(s) for s in args.sizes.split(",")} if args.sizes else set()
    except ValueError:
        parser.error("--sizes: whole numbers separated by commas, e.g. 2500,5000,10000")
    if not sizes:
        sizes = {max(1, args.participants // 4), max(1, args.participants // 2)}
    args.size_list = sorted(sizes | {args.participants})
    if not (min(args.size_list) > 0 and max(args.size_list) <= 100_000 and len(args.size_list) <= 6):
        parser.error("keep it bounded: sizes 1..100000, at most 6 of them")
    if not 0 <= args.quiet_wait <= 120:
        parser.error("--quiet-wait 0..120")
    if not 1 <= args.rounds <= 5:
        parser.error("--rounds 1..5")
    return args


def _terminate(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through every `finally`: the fake stops, databases drop


def measure_size(
    n: int, args: argparse.Namespace, workdir: Path, fake: Fake, credentials_path: Path, runs: list[Run]
) -> tuple[bool, Run | None]:
    """bare, dispatch, bare on a fresh database of N participants; True when the checks pass."""
    from bench.pain_scores import bench_database, wait_for_quiet

    with bench_database(args.admin_url, args.keep_db) as database_url:
        dataset = seed(database_url, n, workdir)
        log(f"{n} participants in {dataset.zone} (now {dataset.local_now} there) written in {dataset.seconds:.1f}s")
        env = child_env(database_url, credentials_path, workdir)
        bare_args = [
            "--fcm-url",
            fake.url,
            "--credentials",
            str(credentials_path),
            "--pushes",
            str(dataset.pushes_path),
        ]
        dispatch_args = ["--fcm-url", fake.url] + (["--no-breakdown"] if args.no_breakdown else [])
        valid = True
        plan = [("bare", bare_args, "bare")]
        for k in range(1, args.rounds + 1):
            plan += [("dispatch", dispatch_args, f"dispatch CLI #{k}"), ("bare", bare_args, "bare")]
        dispatch_run = None
        samples: dict[str, Any] = {}
        for what, extra, label in plan:
            if what == "dispatch" and dispatch_run is not None:
                reset_reminders(database_url)  # the next round plans and sends the same N again
            wait_for_quiet(args.quiet_wait)
            run = run_child(what, n, extra, env, workdir, fake)
            run.label = label
            runs.append(run)
            samples[what] = run.fake.get("sample")
            got = run.fake
            fake_ok = got["ok"] == n and got["errors"] == 0 and set(got["tokens"]) == dataset.tokens
            fake_ok = fake_ok and len(got["tokens"]) == len(set(got["tokens"]))
            if what == "bare":
                fake_ok = fake_ok and run.report.get("ok") == n
                log(
                    f"{label}: send_each loop {run.timed_s:.2f}s; fake got {got['ok']} ({'ok' if fake_ok else 'WRONG'})"
                )
            else:
                dispatch_run = run
                db_ok, db_text = check_database(database_url, n)
                log(f"{label}: {run.wall_s:.2f}s; it said: {run.stdout.splitlines()[-1] if run.stdout else '-'}")
                log(f"  database: {db_text} ({'ok' if db_ok else 'WRONG'})")
                log(
                    f"  fake FCM: {got['ok']} messages to {len(set(got['tokens']))} distinct tokens, "
                    f"{got['errors']} errors, {got['token_requests']} OAuth token requests "
                    f"({'ok' if fake_ok else 'WRONG'})"
                )
                fake_ok = fake_ok and db_ok
            valid = valid and fake_ok
        same = shape(samples.get("bare")) == shape(samples.get("dispatch"))
        log(f"dispatch and bare messages have the same wire JSON shape: {'yes' if same else 'NO'}")
        if not same:
            print(json.dumps({"bare": samples.get("bare"), "dispatch": samples.get("dispatch")}, indent=1)[:3000])
        return valid and same, dispatch_run


def child_env(database_url: str, credentials_path: Path, workdir: Path) -> dict[str, str]:
    return {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("LIMBTRACK_", "DATABASE_URL", "FIREBASE_", "FLASK_", "PYTHONDONTWRITEBYTECODE"))
        },
        "LIMBTRACK_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": database_url,
        "FIREBASE_CREDENTIALS": str(credentials_path),
        "PHOTO_STORAGE_DIR": str(workdir / "photos"),
        "TRIAL_DATABASE_URL": f"sqlite:///{workdir}/trial.db",
    }


def compile_checkout() -> None:
    """Bytecode for this checkout's modules, as a deployment has it (pip compiled the
    venv's): with PYTHONDONTWRITEBYTECODE set, as it may be on a workstation, every child
    would compile backend/ from source again, a cost no installed dispatcher pays."""
    import compileall

    for folder in ("backend", "bench", "tests"):
        compileall.compile_dir(ROOT / folder, quiet=1)
    compileall.compile_file(ROOT / "wsgi.py", quiet=1)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child == "dispatch":
        return _child_dispatch(args.fcm_url, args.report, args.profile_to, not args.no_breakdown)
    if args.child == "bare":
        return _child_bare(args.fcm_url, args.report, args.credentials, args.pushes)
    if args.child == "baseline":
        return _child_baseline(args.fcm_url, args.report)
    if args.child:
        raise SystemExit(f"unknown child {args.child}")

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    started = time.monotonic()
    from bench.pain_scores import bench_database
    from tests.fake_fcm import service_account_info

    runs: list[Run] = []
    valid = True
    headline: Run | None = None
    compile_checkout()
    with tempfile.TemporaryDirectory(prefix="limbtrack-bench-reminders-") as tmp, fake_fcm() as fake:
        workdir = Path(tmp)
        credentials_path = workdir / "service-account.json"
        credentials_path.write_text(json.dumps(service_account_info(fake.url + "/token")))
        log(f"fake FCM at {fake.url} (pid {fake.process.pid}); sizes {', '.join(map(str, args.size_list))}")
        baseline = run_child(
            "baseline",
            0,
            ["--fcm-url", fake.url],
            child_env("postgresql://unused@127.0.0.1/x", credentials_path, workdir),
            workdir,
            None,
        )
        for n in args.size_list:
            ok, dispatch_run = measure_size(n, args, workdir, fake, credentials_path, runs)
            valid = valid and ok
            if n == args.participants:
                headline = dispatch_run
        print_runs(runs, baseline.rss_mb)

        print()
        print(f"== Throughput of the dispatcher against the bare SDK (goal >= {RATIO_GOAL:.0%})")
        goals_met = True
        per_run = ratios(runs)
        for n, dispatch, bare_s, ratio_cli, ratio_inner in per_run:
            print(
                f"  N {n:>6} {dispatch.label:<16}: bare {n / bare_s:5.0f} msgs/s (send_each loop {bare_s:.2f}s, "
                f"runs around it); dispatch CLI {n / dispatch.wall_s:5.0f} msgs/s ({dispatch.wall_s:.2f}s) -> "
                f"{ratio_cli:.0%}; dispatch() alone (no interpreter/imports/app): {ratio_inner:.0%}"
            )
        for n in args.size_list:
            mine = [item for item in per_run if item[0] == n]
            if not mine:
                continue
            by_ratio = sorted(mine, key=lambda item: item[3])
            median = by_ratio[len(by_ratio) // 2]
            met = median[3] >= RATIO_GOAL
            if n == args.participants:
                goals_met = goals_met and met
                headline = median[1]
            spread = f" (rounds {by_ratio[0][3]:.0%}..{by_ratio[-1][3]:.0%})" if len(by_ratio) > 1 else ""
            print(f"  N {n:>6}: median ratio {median[3]:.0%}{spread} -> {'met' if met else 'NOT met'}")
        dispatches = [next(r for r in runs if r.what == "dispatch" and r.n == n) for n in sorted({r.n for r in runs})]
        if len(dispatches) >= 2:
            small, large = dispatches[0], dispatches[-1]
            growth = (large.rss_mb - small.rss_mb) / (large.n - small.n) * 1000
            print()
            print(
                f"== Memory: dispatch peak RSS {small.rss_mb:.1f} MB at N={small.n} -> {large.rss_mb:.1f} MB at "
                f"N={large.n}: {growth:+.2f} MB per 1,000 participants (baseline {baseline.rss_mb:.1f} MB)"
            )
        if headline is not None:
            print_breakdown(headline)
        if args.profile:
            from bench.pain_scores import wait_for_quiet

            with bench_database(args.admin_url, args.keep_db) as database_url:
                seed(database_url, args.participants, workdir)
                wait_for_quiet(args.quiet_wait)
                profile = workdir / "dispatch.pstats"
                run = run_child(
                    "dispatch",
                    args.participants,
                    ["--fcm-url", fake.url, "--profile-to", str(profile)],
                    child_env(database_url, credentials_path, workdir),
                    workdir,
                    fake,
                )
                print_profile(profile, run)
    log(f"done in {time.monotonic() - started:.0f}s; the run was {'valid' if valid else 'NOT valid (see above)'}")
    if not valid:
        return 2
    return 1 if args.strict and not goals_met else 0


if __name__ == "__main__":
    sys.exit(main())
