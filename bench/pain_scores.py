"""Benchmark: patients posting pain scores to LimbTrack under gunicorn on PostgreSQL,
against a minimal Flask + SQLAlchemy endpoint that inserts one row, in one run.

Run from the repository root (needs PostgreSQL on 127.0.0.1:5432, trust auth, user
postgres; gunicorn in the venv):

    bench/run                                # = .venv/bin/python -m bench.pain_scores
    bench/run --duration 15 --rate 200 --concurrency 16 --patients 200
    bench/run --profile-only                 # only step 5, in about 20 seconds
    bench/run --compare-root ../other-checkout   # also load that checkout's LimbTrack

What it does, in about two minutes:
 1. creates a fresh database (limbtrack_bench_<time>_<pid>), migrates it, loads the demo
    protocol, enrols N patients (day 0 known) and gives each a device session with a
    known access token; creates the minimal app's table in the same database;
 2. starts `gunicorn -w 2 wsgi:app` (LIMBTRACK_ENV=production) and
    `gunicorn -w 2 'bench.minimal_app:create_app()'` on free loopback ports;
 3. warms each up, then closed loops (max throughput, C connections, D seconds per app
    in all) in alternating rounds, then an open loop each (R requests/s for D seconds);
    every request posts a score for the next patient in rotation with a fresh
    client_uuid and recorded_at now (+03:30);
 4. prints requests, errors, req/s, p50/p99, server and PostgreSQL CPU per request, the
    CPU other processes took, the LimbTrack/minimal throughput ratio and whether the
    goal is met; checks that the tables hold exactly one row per 201;
 5. stops the servers, then measures single requests in process: every database call of
    a patient's first score of the day and of a later one, time per step, a cProfile;
 6. drops the database and stops the servers on every exit path.

Goal: p99 < 100 ms at 200 requests/s (the throughput ratio to the minimal endpoint is
printed for information). The exit status is 0 when the run was valid (no errors,
row counts match), whatever the goals; 2 when it was not; --strict makes unmet goals
exit 1.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backend.app import create_app  # noqa: E402
from backend.audit.models import AuditEvent  # noqa: E402
from backend.auth.models import AuthSession, AuthToken, SessionKind, TokenKind  # noqa: E402
from backend.auth.service import AuthSettings  # noqa: E402
from backend.config import Config  # noqa: E402
from backend.core.actor import Actor  # noqa: E402
from backend.core.timeutil import utcnow  # noqa: E402
from backend.db import Database, get_database, make_engine  # noqa: E402
from backend.diary.models import PainScore  # noqa: E402
from backend.migrations import upgrade  # noqa: E402
from backend.participants.models import Device  # noqa: E402
from backend.participants.service import change_status, create_participant  # noqa: E402
from backend.studies.protocol import DEMO_PROTOCOL_PATH, read_protocol_file  # noqa: E402
from backend.studies.service import find_study, load_protocol  # noqa: E402
from bench import loadgen, minimal_app, per_request, spy  # noqa: E402
from tests.fake_fcm import service_account_info  # noqa: E402

LIMBTRACK_PATH = "/api/v1/me/pain-scores"
TEHRAN = ZoneInfo("Asia/Tehran")
HOST = "127.0.0.1"
P99_GOAL_MS = 100.0
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Patient:
    participant_id: int
    token: str


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- database -------------------------------------------------------------------------


@contextlib.contextmanager
def bench_database(admin_url: str, keep: bool) -> Iterator[str]:
    """A fresh database for this run, dropped (with FORCE) on the way out."""
    name = f"limbtrack_bench_{int(time.time())}_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    log(f"created database {name}")
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        if keep:
            log(f'kept database {name} (--keep-db); drop it with: DROP DATABASE "{name}" WITH (FORCE)')
        else:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            log(f"dropped database {name}")


def seed(database_url: str, config: Config, count: int) -> list[Patient]:
    """Migrate, load the demo protocol, enrol `count` patients with device sessions."""
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        minimal_app.Base.metadata.create_all(engine)
        database = Database(engine)
        keyed_hash = AuthSettings.from_config(config).secrets.keyed_hash
        document, sha256 = read_protocol_file(DEMO_PROTOCOL_PATH)
        # Enrolled ten days ago, day 0 a week ago: every score posted now is accepted.
        then = utcnow() - timedelta(days=10)
        patients = []
        with database.session_scope() as session:
            load_protocol(session, document, sha256, Actor.system("bench"), then)
            study = find_study(session, document["study"]["code"])
            actor = Actor.system("bench", study_id=study.id)
            for n in range(count):
                site = document["sites"][n % len(document["sites"])]
                participant, _ = create_participant(
                    session,
                    actor,
                    {
                        "client_uuid": uuid.uuid4(),
                        "subject_code": f"BENCH-{n:05d}",
                        "site_code": site["code"],
                        "cohort_code": document["cohorts"][n % len(document["cohorts"])]["code"],
                        "target_leg": "right",
                        "timezone": site["timezone"],
                        "language": "fa",
                        "day0_date": (then + timedelta(days=3)).date(),
                        "consent_version": "1.0",
                        "consent_date": then.date(),
                    },
                    then,
                )
                change_status(session, actor, participant.id, "enrol", "benchmark", then)
                device = Device(participant=participant, platform="android", activated_at=then)
                auth_session = AuthSession(
                    kind=SessionKind.PATIENT, device=device, created_at=then, expires_at=utcnow() + timedelta(days=1)
                )
                token = f"lta_bench-{n}-{secrets.token_urlsafe(24)}"
                session.add_all(
                    [
                        device,
                        auth_session,
                        AuthToken(
                            session=auth_session,
                            kind=TokenKind.ACCESS,
                            token_hash=keyed_hash(token),
                            issued_at=then,
                            expires_at=utcnow() + timedelta(days=1),
                        ),
                    ]
                )
                session.commit()
                patients.append(Patient(participant.id, token))
        return patients
    finally:
        engine.dispose()


def row_counts(database_url: str) -> dict[str, int]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return {
                "pain_score": connection.scalar(select(func.count()).select_from(PainScore)) or 0,
                "audit pain_score.create": connection.scalar(
                    select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "pain_score.create")
                )
                or 0,
                "bench_minimal_score": connection.scalar(select(func.count()).select_from(minimal_app.MinimalScore))
                or 0,
            }
    finally:
        engine.dispose()


# --- servers --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the bench process dies, however it dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def address(self) -> loadgen.Address:
        return (HOST, self.port)

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # gunicorn: graceful stop of the workers
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_gunicorn(
    name: str, app_spec: str, env: dict[str, str], workdir: Path, threads: int = 1, root: Path = ROOT
) -> Server:
    gunicorn = Path(sys.executable).parent / "gunicorn"
    if not gunicorn.exists():
        raise SystemExit(f"{gunicorn} is missing: .venv/bin/pip install gunicorn (see bench/README.md)")
    port = free_port()
    log_path = workdir / f"{name}.log"
    command = [str(gunicorn), "-w", "2", "-b", f"{HOST}:{port}", "--chdir", str(root)]
    if threads > 1:
        command += ["--threads", str(threads)]  # gthread workers instead of sync ones
    command.append(app_spec)
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(  # noqa: S603 (our own venv's gunicorn, fixed arguments)
            command,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the bench, which stops the servers in order
            preexec_fn=_die_with_parent,
        )
    return Server(name, port, process, log_path)


def wait_ready(server: Server, path: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    url = f"http://{HOST}:{server.port}{path}"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} not ready at {url} after {timeout_s:.0f}s:\n{server.log_tail()}")


# --- CPU of the server and of PostgreSQL, from /proc ---------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a process, or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cpu_snapshot(server: Server) -> dict[str, dict[int, float]]:
    """CPU seconds so far of the gunicorn master and its workers, and of every postgres process."""
    tree: dict[int, float] = {}
    postgres: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        stat = _proc_stat(pid)
        if stat is None:
            continue
        parent, cpu = stat
        if pid == server.process.pid or parent == server.process.pid:
            tree[pid] = cpu
        else:
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    postgres[pid] = cpu
    return {"server": tree, "postgres": postgres}


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # guest time is already inside user
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


def others_busy() -> float:
    """CPU seconds so far of the machine less this process and PostgreSQL (to subtract later)."""
    postgres = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    postgres += (_proc_stat(int(entry.name)) or (0, 0.0))[1]
    return machine_cpu()[0] - postgres - time.process_time()


def busy_cores(seconds: float = 1.0) -> float:
    """How many cores the machine keeps busy right now (every process, ours included)."""
    busy0, total0 = machine_cpu()
    time.sleep(seconds)
    busy1, total1 = machine_cpu()
    return (busy1 - busy0) / (total1 - total0) * (os.cpu_count() or 1) if total1 > total0 else 0.0


def _all_cpu() -> dict[int, float]:
    cpu = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))) is not None:
            cpu[int(entry.name)] = stat[1]
    return cpu


def busiest_processes(seconds: float = 1.0, count: int = 3) -> str:
    """The processes that used the most CPU over `seconds`, for the log."""
    before = _all_cpu()
    time.sleep(seconds)
    after = _all_cpu()
    ranked = sorted(((cpu - before.get(pid, cpu), pid) for pid, cpu in after.items()), reverse=True)[:count]
    parts = []
    for used, pid in ranked:
        if used / seconds < 0.05:
            continue
        with contextlib.suppress(OSError):
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            parts.append(f"{used / seconds:.2f} cores pid {pid} {command[:100].strip()}")
    return "; ".join(parts) or "nothing in particular"


def wait_for_quiet(max_wait_s: float, threshold: float = 0.3) -> float:
    """Wait (up to max_wait_s) until the machine is nearly idle; return the busy cores seen last.

    Other work on the machine (a test suite, a build) competes with the servers for the
    same cores and makes every figure worse; the report shows how much there was."""
    deadline = time.monotonic() + max_wait_s
    busy = busy_cores()
    warned = False
    while busy > threshold and time.monotonic() < deadline:
        if not warned:
            log(f"machine busy ({busy:.1f} cores in use); waiting up to {max_wait_s:.0f}s: {busiest_processes()}")
            warned = True
        busy = busy_cores()
    return busy


def cpu_delta(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
    return {
        kind: sum(cpu - before[kind].get(pid, 0.0) for pid, cpu in after[kind].items())
        for kind in ("server", "postgres")
    }


# --- requests -------------------------------------------------------------------------


def _payload(i: int) -> dict[str, Any]:
    return {
        "client_uuid": str(uuid.uuid4()),
        "recorded_at": datetime.now(TEHRAN).isoformat(timespec="milliseconds"),
        "score": i % 11,
    }


def limbtrack_factory(server: Server, patients: list[Patient]) -> loadgen.RequestFactory:
    def build(i: int) -> bytes:
        patient = patients[i % len(patients)]
        body = json.dumps(_payload(i)).encode()
        headers = {"Authorization": f"Bearer {patient.token}"}
        return loadgen.build_request(server.address, "POST", LIMBTRACK_PATH, body, headers)

    return build


def minimal_factory(server: Server, patients: list[Patient]) -> loadgen.RequestFactory:
    def build(i: int) -> bytes:
        patient = patients[i % len(patients)]
        body = json.dumps({"patient": patient.participant_id, **_payload(i)}).encode()
        headers = {"Authorization": f"Bearer {patient.token}"}  # sent, and ignored
        return loadgen.build_request(server.address, "POST", minimal_app.PATH, body, headers)

    return build


@dataclass
class Phase:
    result: loadgen.Result
    server_cpu_s: float
    postgres_cpu_s: float
    other_cpu_s: float  # every other process on the machine during the phase
    rounds: list[float] = field(default_factory=list)  # req/s of each round, when merged from rounds

    @property
    def other_cores(self) -> float:
        return self.other_cpu_s / self.result.elapsed_s if self.result.elapsed_s else 0.0

    @property
    def server_ms_per_request(self) -> float:
        return self.server_cpu_s * 1000 / max(self.result.ok, 1)

    @property
    def postgres_ms_per_request(self) -> float:
        return self.postgres_cpu_s * 1000 / max(self.result.ok, 1)

    @property
    def cost_ms(self) -> float:
        return self.server_ms_per_request + self.postgres_ms_per_request


def merge(phases: list[Phase]) -> Phase:
    """Rounds of one target and mode as one phase (pooled latencies, summed time and CPU)."""
    results = [phase.result for phase in phases]
    first = results[0]
    result = loadgen.Result(
        first.target,
        first.mode,
        sum(r.elapsed_s for r in results),
        [latency for r in results for latency in r.latencies_ms],
        sum((r.statuses for r in results), Counter()),
        sum((r.exceptions for r in results), Counter()),
        sum(r.client_cpu_s for r in results),
        next((r.first_error for r in results if r.first_error), None),
        first.offered_rate,
    )
    if len(results) > 1:
        result.mode = f"{first.mode} x{len(results)}"
    return Phase(
        result,
        sum(p.server_cpu_s for p in phases),
        sum(p.postgres_cpu_s for p in phases),
        sum(p.other_cpu_s for p in phases),
        [r.rps for r in results],
    )


def measure(server: Server, run: Callable[[], loadgen.Result], quiet_wait_s: float) -> Phase:
    wait_for_quiet(quiet_wait_s)
    before, (busy0, _total0) = cpu_snapshot(server), machine_cpu()
    result = run()
    delta, (busy1, _total1) = cpu_delta(before, cpu_snapshot(server)), machine_cpu()
    other = (busy1 - busy0) - delta["server"] - delta["postgres"] - result.client_cpu_s
    return Phase(result, delta["server"], delta["postgres"], max(other, 0.0))


@dataclass
class Target:
    """One app under load: its server, its requests, and every 201 it gave (warm-up too)."""

    server: Server
    factory: loadgen.RequestFactory
    ok: int = 0
    next_index: int = 0

    @property
    def name(self) -> str:
        return self.server.name

    def closed(self, args: argparse.Namespace, seconds: float, concurrency: int | None = None) -> loadgen.Result:
        result = loadgen.closed_loop(
            self.name,
            self.server.address,
            self.factory,
            concurrency=concurrency or args.concurrency,
            duration_s=seconds,
            first_index=self.next_index,
        )
        self._count(result)
        return result

    def opened(self, args: argparse.Namespace) -> loadgen.Result:
        result = loadgen.open_loop(
            self.name,
            self.server.address,
            self.factory,
            rate=args.rate,
            duration_s=args.duration,
            first_index=self.next_index,
        )
        self._count(result)
        return result

    def _count(self, result: loadgen.Result) -> None:
        self.ok += result.ok
        self.next_index += result.requests + 1000


def load_targets(targets: list[Target], args: argparse.Namespace) -> dict[tuple[str, str], Phase]:
    """Warm every target up; closed loops in alternating rounds (so that a drift of the
    machine's speed hits every target alike); then an open loop each."""
    for target in targets:
        log(f"{target.name}: warm-up {args.warmup:g}s")
        warmup = target.closed(args, args.warmup, concurrency=4)
        if warmup.errors:
            raise RuntimeError(f"{target.name} warm-up failed: {warmup.first_error}\n{target.server.log_tail()}")
    seconds = args.duration / args.rounds
    closed: dict[str, list[Phase]] = {target.name: [] for target in targets}
    for n in range(args.rounds):
        for target in targets:
            log(
                f"{target.name}: closed loop, {args.concurrency} connections, {seconds:g}s, round {n + 1}/{args.rounds}"
            )
            phase = measure(target.server, functools.partial(target.closed, args, seconds), args.quiet_wait)
            closed[target.name].append(phase)
            log(
                f"{target.name}: round {n + 1}: {phase.result.rps:.1f} req/s, server + PG CPU "
                f"{phase.server_ms_per_request:.2f} + {phase.postgres_ms_per_request:.2f} ms/req"
            )
    phases = {(name, "closed"): merge(rounds) for name, rounds in closed.items()}
    for target in targets:
        log(f"{target.name}: open loop, {args.rate:g} requests/s, {args.duration:g}s")
        phases[(target.name, "open")] = measure(target.server, functools.partial(target.opened, args), args.quiet_wait)
    return phases


def sample_with_py_spy(target: Target, args: argparse.Namespace, workdir: Path) -> None:
    """An extra closed loop, not measured, with py-spy sampling the workers."""
    server = target.server
    seconds = int(min(args.duration, 10))
    log(f"{server.name}: closed loop under py-spy, {seconds}s (not measured)")
    raw = workdir / "py-spy.txt"
    py_spy = spy.find_py_spy()
    assert py_spy is not None
    sampler = spy.record(py_spy, server.process.pid, seconds, raw)
    result = target.closed(args, seconds + 0.5)
    try:
        sampler.wait(30)
    except subprocess.TimeoutExpired:
        sampler.kill()
        sampler.wait()
    spy_report = spy.summarise(raw) if raw.exists() else "py-spy wrote nothing (ptrace not permitted?)"
    print()
    print(f"== {server.name} workers sampled under load ({result.rps:.1f} req/s while sampled)")
    print(spy_report)


# --- report ---------------------------------------------------------------------------


NOISY_CORES = 0.2


def print_table(phases: list[Phase]) -> None:
    header = (
        f"{'endpoint':<10} {'mode':<12} {'requests':>8} {'errors':>6} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'max ms':>7} {'server CPU':>10} {'PG CPU':>7} {'client':>6} {'other':>6}"
    )
    print(header)
    print(" " * 72 + f"{'ms/req':>10} {'ms/req':>7} {'cores':>6} {'cores':>6}")
    print("-" * len(header))
    for phase in phases:
        r = phase.result
        print(
            f"{r.target:<10} {r.mode:<12} {r.requests:>8} {r.errors:>6} {r.rps:>7.1f} {r.percentile(50):>7.1f} "
            f"{r.percentile(99):>7.1f} {r.percentile(100):>7.1f} {phase.server_ms_per_request:>10.2f} "
            f"{phase.postgres_ms_per_request:>7.2f} {r.client_cpu_s / r.elapsed_s:>6.2f} {phase.other_cores:>6.2f}"
            + ("  <- other processes were busy: figures are pessimistic" if phase.other_cores > NOISY_CORES else "")
        )
        if r.errors:
            print(f"    errors: statuses {dict(r.statuses)}, exceptions {dict(r.exceptions)}; first: {r.first_error}")
    print(
        "server CPU = gunicorn master + 2 workers; PG CPU = every postgres process; client = this load generator; "
        "other = the rest of the machine (2 cores in all)"
    )


def report(phases: dict[tuple[str, str], Phase], args: argparse.Namespace, names: list[str]) -> bool:
    """Print the table and the goal (for the first LimbTrack target); True when it is met."""
    print()
    workers = "sync workers" if args.threads <= 1 else f"gthread workers, {args.threads} threads each"
    print(
        f"== Results (gunicorn -w 2, {workers}, PostgreSQL on loopback; "
        f"closed loops in {args.rounds} alternating rounds)"
    )
    print_table([phases[(name, mode)] for mode in ("closed", "open") for name in names])
    min_closed = phases[("minimal", "closed")]
    print()
    for name in names[1:]:
        closed = phases[(name, "closed")]
        ratio = closed.result.rps / min_closed.result.rps if min_closed.result.rps else 0.0
        per_round = [a / b for a, b in zip(closed.rounds, min_closed.rounds, strict=True) if b]
        print(
            f"{name} / minimal throughput (closed loop): {closed.result.rps:.1f} / {min_closed.result.rps:.1f} = "
            f"{ratio:.0%} (rounds {min(per_round):.0%}..{max(per_round):.0%}); CPU per request (server + PostgreSQL): "
            f"{closed.cost_ms:.2f} vs {min_closed.cost_ms:.2f} ms -> {min_closed.cost_ms / closed.cost_ms:.0%}"
        )
        print(
            f"  each round, in order: {' '.join(f'{r:.0%}' for r in per_round)}; "
            f"median {statistics.median(per_round):.0%}"
        )
    lt_closed, lt_open = phases[(names[1], "closed")], phases[(names[1], "open")]
    ratio = lt_closed.result.rps / min_closed.result.rps if min_closed.result.rps else 0.0
    p99 = lt_open.result.percentile(99)
    expected = int(args.rate * args.duration)
    p99_ok = p99 < P99_GOAL_MS and lt_open.result.ok >= 0.99 * expected and lt_open.result.errors == 0
    print(f"For information, {names[1]} throughput / minimal's: {ratio:.0%}")
    print(
        f"Goal, {names[1]} p99 < {P99_GOAL_MS:.0f} ms at {args.rate:g} requests/s: {p99:.1f} ms, "
        f"{lt_open.result.ok} of {expected} answered 201: {'MET' if p99_ok else 'NOT MET'}"
    )
    if any(phase.other_cores > NOISY_CORES for phase in phases.values()):
        print(
            "WARNING: other processes used the CPU during a measured phase (column 'other'); rerun on a quiet machine."
        )
    return p99_ok


# --- in-process profile ---------------------------------------------------------------


def profile_in_process(
    env: dict[str, str], minimal_url: str, fresh: list[Patient], rotation: list[Patient], quiet_wait_s: float
) -> None:
    wait_for_quiet(quiet_wait_s)
    print()
    print("== Where the time goes: one POST /api/v1/me/pain-scores in process (Flask test client, same database)")
    app = create_app(Config.from_env(env))
    client = app.test_client()
    engine = get_database(app).engine
    mini = minimal_app.create_app(minimal_url)
    mini_client = mini.test_client()
    mini_engine = mini.extensions["bench_engine"]
    tracer = per_request.Tracer()

    def post(patient: Patient) -> int:
        return client.post(
            LIMBTRACK_PATH, json=_payload(7), headers={"Authorization": f"Bearer {patient.token}"}
        ).status_code

    def post_minimal(i: int) -> int:
        patient = rotation[i % len(rotation)]
        return mini_client.post(minimal_app.PATH, json={"patient": patient.participant_id, **_payload(i)}).status_code

    with per_request.instrument(tracer, [engine, mini_engine]):
        # Warm the pools, the protocol cache and the code paths.
        # Every patient of the rotation gets a score today first, as after the load.
        per_request.timed_requests(tracer, lambda i: post(rotation[i % len(rotation)]), len(rotation))
        per_request.timed_requests(tracer, post_minimal, 20)
        traces = [
            ("LimbTrack, a patient's first score of the day", lambda _i: post(fresh[0])),
            ("LimbTrack, a later score the same day (supersedes the current one)", lambda _i: post(fresh[0])),
            ("minimal endpoint", post_minimal),
        ]
        for title, send in traces:
            tracer.reset()
            timings = per_request.timed_requests(tracer, send, 1)
            print(
                f"\n-- {title}: {len(tracer.statements)} database calls, {timings.wall_ms[0]:.2f} ms in process"
                " (not listed: the BEGIN psycopg sends, a round trip of its own, within the first call;"
                " a ROLLBACK on an idle connection is local)"
            )
            for n, statement in enumerate(tracer.statements, 1):
                print(f"  {n:>2}. {statement.ms:5.2f} ms  {statement.sql}")
                print(f"      {'':8}  from: {statement.path or '-'}")

        tracer.recording = False
        runs: list[tuple[str, int, Callable[[int], int]]] = [
            ("LimbTrack, first score of the day", len(fresh) - 1, lambda i: post(fresh[1 + i])),
            ("LimbTrack, later score of the day (as in the load)", 300, lambda i: post(rotation[i % len(rotation)])),
            ("minimal endpoint", 300, post_minimal),
        ]
        for title, count, send in runs:
            tracer.reset()
            others, started = others_busy(), time.perf_counter()
            timings = per_request.timed_requests(tracer, send, count)
            other_cores = (others_busy() - others) / (time.perf_counter() - started)
            print_steps(title, tracer, timings)
            if other_cores > NOISY_CORES:
                print(f"  WARNING: other processes kept {other_cores:.1f} cores busy meanwhile: times are pessimistic")

    print("\n-- cProfile of 300 LimbTrack requests (later score of the day)")
    print(per_request.profile_top(lambda i: post(rotation[i % len(rotation)]), 300, limit=25))
    engine.dispose()
    mini_engine.dispose()


def print_steps(title: str, tracer: per_request.Tracer, timings: per_request.Timings) -> None:
    n = len(timings.wall_ms)
    statements = sum(t.statements for t in tracer.totals.values()) / n
    sql_ms = sum(t.sql_s for t in tracer.totals.values()) * 1000 / n
    print(
        f"\n-- {title}: {n} requests; wall median {timings.median(timings.wall_ms):.2f} ms, "
        f"mean {sum(timings.wall_ms) / n:.2f} ms; CPU of this process median {timings.median(timings.cpu_ms):.2f} ms; "
        f"{statements:.1f} database calls ({sql_ms:.2f} ms waiting on them) per request"
    )
    print(f"  {'step (own time, children excluded)':<52} {'ms/req':>8} {'of which DB':>11} {'DB calls/req':>12}")
    for name, totals in sorted(tracer.totals.items(), key=lambda item: -item[1].self_s):
        print(
            f"  {name:<52} {totals.self_s * 1000 / n:>8.3f} {totals.sql_s * 1000 / n:>11.3f} "
            f"{totals.statements / n:>12.2f}"
        )


# --- main -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--patients", type=int, default=200, help="patients in the rotation (default 200)")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per measured phase (default 15)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per server (default 3)")
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop connections (default 16)")
    parser.add_argument("--rate", type=float, default=200.0, help="open-loop requests/s (default 200)")
    parser.add_argument("--skip-profile", action="store_true", help="no in-process profile")
    parser.add_argument("--profile-only", action="store_true", help="only the in-process profile: no servers, no load")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the benchmark database")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is not met")
    parser.add_argument("--rounds", type=int, default=3, help="closed loop split in alternating rounds (default 3)")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn --threads for both apps (default 1: sync)")
    parser.add_argument(
        "--compare-root",
        type=Path,
        help="another LimbTrack checkout (same migrations) to load alongside, e.g. with a fix applied",
    )
    parser.add_argument(
        "--quiet-wait", type=float, default=20.0, help="seconds to wait for other processes to go idle (default 20)"
    )
    parser.add_argument(
        "--py-spy", action="store_true", help="extra unmeasured LimbTrack phase sampled by py-spy (pip install py-spy)"
    )
    args = parser.parse_args(argv)
    if not args.admin_url.split("@")[-1].startswith(("127.0.0.1", "localhost", "[::1]")):
        parser.error("--admin-url must point at a PostgreSQL on loopback")
    if not (0 < args.duration <= 60 and 0 < args.rate <= 2000 and 0 < args.concurrency <= 64 and args.patients > 0):
        parser.error("keep it bounded: duration <= 60 s, rate <= 2000/s, concurrency <= 64")
    if not (1 <= args.threads <= 16 and 0 <= args.quiet_wait <= 120 and 1 <= args.rounds <= 10):
        parser.error("--threads 1..16, --quiet-wait 0..120, --rounds 1..10")
    if args.compare_root and not (args.compare_root / "wsgi.py").exists():
        parser.error(f"--compare-root {args.compare_root}: no wsgi.py there")
    if args.py_spy and spy.find_py_spy() is None:
        parser.error("--py-spy needs py-spy: .venv/bin/pip install py-spy")
    return args


def run_load(
    args: argparse.Namespace,
    env: dict[str, str],
    database_url: str,
    rotation: list[Patient],
    workdir: Path,
    servers: list[Server],
) -> tuple[bool, bool]:
    """Both apps (and --compare-root's LimbTrack) under gunicorn. Returns (run valid, goals met).
    Appends the servers it starts to `servers`, so that the caller stops them on any exit."""
    log("starting gunicorn -w 2 for each app")
    minimal = start_gunicorn("minimal", "bench.minimal_app:create_app()", env, workdir, args.threads)
    servers.append(minimal)
    servers.append(start_gunicorn("limbtrack", "wsgi:app", env, workdir, args.threads))
    if args.compare_root:
        servers.append(start_gunicorn("compare", "wsgi:app", env, workdir, args.threads, args.compare_root))
    wait_ready(minimal, "/healthz")
    for server in servers[1:]:
        wait_ready(server, "/readyz")
    targets = [Target(minimal, minimal_factory(minimal, rotation))]
    targets += [Target(server, limbtrack_factory(server, rotation)) for server in servers[1:]]
    phases = load_targets(targets, args)
    if args.py_spy:
        sample_with_py_spy(targets[1], args, workdir)
    goals_met = report(phases, args, [target.name for target in targets])
    for server in servers:
        server.stop()
    counts = row_counts(database_url)
    expected = {
        "pain_score": sum(target.ok for target in targets[1:]),
        "audit pain_score.create": sum(target.ok for target in targets[1:]),
        "bench_minimal_score": targets[0].ok,
    }
    print()
    print(f"Rows after the load (expected = 201 responses, warm-up included): {counts}")
    print(f"Row counts match the 201s: {'yes' if counts == expected else f'NO, expected {expected}'}")
    valid = counts == expected and not any(phase.result.errors for phase in phases.values())
    return valid, goals_met


def _terminate(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through every `finally`: servers stop, database drops


def server_env(workdir: Path, database_url: str) -> dict[str, str]:
    """The environment both apps run with: LimbTrack in production mode on `database_url`."""
    # Production refuses to start without push credentials; nothing is pushed here,
    # so a generated service account whose token endpoint goes nowhere will do.
    credentials = workdir / "firebase.json"
    credentials.write_text(json.dumps(service_account_info("http://127.0.0.1:9/token")))
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("LIMBTRACK_", "DATABASE_URL"))},
        "LIMBTRACK_ENV": "production",
        "FIREBASE_CREDENTIALS": str(credentials),
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "WARNING",
        "PHOTO_STORAGE_DIR": str(workdir / "photos"),
        "TRIAL_DATABASE_URL": f"sqlite:///{workdir}/trial.db",
        minimal_app.URL_ENV: database_url,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    started = time.monotonic()
    fresh_count = 41  # patients kept out of the load, for first-of-the-day measurements
    servers: list[Server] = []
    with (
        tempfile.TemporaryDirectory(prefix="limbtrack-bench-") as workdir,
        bench_database(args.admin_url, args.keep_db) as database_url,
    ):
        try:
            env = server_env(Path(workdir), database_url)
            config = Config.from_env(env)
            log(f"migrating and enrolling {args.patients + fresh_count} patients")
            patients = seed(database_url, config, args.patients + fresh_count)
            rotation, fresh = patients[: args.patients], patients[args.patients :]
            log(f"seeded in {time.monotonic() - started:.1f}s")
            valid, goals_met = True, True
            if not args.profile_only:
                valid, goals_met = run_load(args, env, database_url, rotation, Path(workdir), servers)
            if not args.skip_profile:
                profile_in_process(env, database_url, fresh, rotation, args.quiet_wait)
            log(f"done in {time.monotonic() - started:.0f}s")
            if not valid:
                return 2
            return 1 if args.strict and not goals_met else 0
        except BaseException:
            for server in servers:
                if server.process.poll() is not None and server.process.returncode not in (0, -signal.SIGTERM):
                    print(f"--- {server.name} log tail ---\n{server.log_tail()}", file=sys.stderr)
            raise
        finally:
            for server in servers:
                server.stop()


if __name__ == "__main__":
    sys.exit(main())
