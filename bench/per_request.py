"""Where one POST /api/v1/me/pain-scores spends its time, measured in process.

The app runs with the Flask test client against the benchmark's PostgreSQL database.
Every SQL round trip is recorded through SQLAlchemy events (plus the dialect's ping,
commit and rollback, which bypass the cursor events), and each is charged to the step of
the request that issued it. Steps are the service functions the route calls; they are
wrapped here, in this process only, never edited.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import marshmallow
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

REQUEST = "framework (Flask, flask-smorest, test client, JSON)"

# (module, attribute, step name): wrapped for the duration of a measurement.
STEPS: tuple[tuple[str, str, str], ...] = (
    ("backend.auth.access", "authenticate_access_token", "auth: token -> actor"),
    ("backend.diary.service", "participant_in_scope", "participant_in_scope"),
    ("backend.entries.service", "find_replay", "idempotency: find_replay"),
    ("backend.entries.service", "time_entry", "time_entry (dates, checks)"),
    ("backend.diary.service", "current_protocol", "current_protocol"),
    ("backend.diary.service", "diary_date_for", "diary_date_for"),
    ("backend.diary.service", "ensure_writable", "locks: ensure_writable"),
    ("backend.diary.service", "_current_score", "the day's current score"),
    ("backend.entries.service", "supersede", "supersede (UPDATE, INSERT)"),
    ("backend.entries.service", "record_entry", "record_entry (INSERT, audit event, flags)"),
    ("backend.entries.service", "snapshot", "audit: snapshot()"),
    ("backend.entries.service", "record_audit", "audit: record_audit()"),
    ("backend.diary.service", "_flag_pain_rise", "flags: pain rise"),
    ("backend.diary.service", "record_pain_score", "record_pain_score (own code)"),
)
CLASS_STEPS: tuple[tuple[type, str, str], ...] = (
    (marshmallow.Schema, "load", "request schema load (marshmallow)"),
    (marshmallow.Schema, "dump", "response dump (marshmallow)"),
    (Session, "flush", "ORM flush (pending INSERT/UPDATE, autoflush too)"),
    (Session, "commit", "session.commit (COMMIT)"),
    (Session, "close", "session.close (teardown, return to pool)"),
    (Session, "rollback", "session.rollback (teardown)"),
)


@dataclass
class Statement:
    step: str  # the innermost step, charged with the statement
    path: str  # every step on the stack, outermost first
    sql: str
    ms: float


@dataclass
class StepTotals:
    self_s: float = 0.0
    calls: int = 0
    statements: int = 0
    sql_s: float = 0.0


@dataclass
class Tracer:
    """A stack of steps; self time (children excluded) and SQL are charged to the top."""

    stack: list[list[Any]] = field(default_factory=list)  # [name, started, child_seconds]
    totals: dict[str, StepTotals] = field(default_factory=lambda: defaultdict(StepTotals))
    statements: list[Statement] = field(default_factory=list)
    recording: bool = True

    @property
    def current(self) -> str:
        return self.stack[-1][0] if self.stack else "outside a request"

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.stack.append([name, time.perf_counter(), 0.0])
        try:
            yield
        finally:
            _name, started, children = self.stack.pop()
            elapsed = time.perf_counter() - started
            totals = self.totals[name]
            totals.self_s += elapsed - children
            totals.calls += 1
            if self.stack:
                self.stack[-1][2] += elapsed

    def sql(self, text: str, seconds: float) -> None:
        totals = self.totals[self.current]
        totals.statements += 1
        totals.sql_s += seconds
        if self.recording:
            path = " > ".join(frame[0].split(" (")[0] for frame in self.stack[1:])
            self.statements.append(Statement(self.current, path, text, seconds * 1000))

    def reset(self) -> None:
        self.totals = defaultdict(StepTotals)
        self.statements = []


def short_sql(statement: str, params: Any = None, width: int = 150) -> str:
    text = re.sub(r"\s+", " ", statement).strip()
    text = re.sub(r"SELECT (.{60}).*? FROM", r"SELECT \1… FROM", text)
    return text if len(text) <= width else text[: width - 1] + "…"


@contextmanager
def instrument(tracer: Tracer, engines: list[Engine]) -> Iterator[None]:
    """Wrap the steps and hook the engines' SQL for the duration of the block."""
    import importlib

    restore: list[Callable[[], None]] = []

    def wrap(owner: Any, attribute: str, name: str) -> None:
        original = getattr(owner, attribute)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with tracer.step(name):
                return original(*args, **kwargs)

        setattr(owner, attribute, wrapper)
        restore.append(lambda: setattr(owner, attribute, original))

    for module_name, attribute, name in STEPS:
        wrap(importlib.import_module(module_name), attribute, name)
    for cls, attribute, name in CLASS_STEPS:
        wrap(cls, attribute, name)

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        started = conn.info["bench_started"].pop()
        tracer.sql(short_sql(statement), time.perf_counter() - started)

    for engine in engines:
        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        restore.append(lambda engine=engine: event.remove(engine, "before_cursor_execute", before))  # type: ignore[misc]
        restore.append(lambda engine=engine: event.remove(engine, "after_cursor_execute", after))  # type: ignore[misc]
        dialect = engine.dialect
        for method, label in (
            ("do_ping", "SELECT 1 (pool_pre_ping on checkout)"),
            ("do_commit", "COMMIT"),
            ("do_rollback", "ROLLBACK (pool reset on return)"),
        ):
            original = getattr(dialect, method)

            def timed(dbapi_connection: Any, _original: Any = original, _label: str = label) -> Any:
                started = time.perf_counter()
                try:
                    return _original(dbapi_connection)
                finally:
                    tracer.sql(_label, time.perf_counter() - started)

            setattr(dialect, method, timed)
            restore.append(lambda dialect=dialect, method=method: delattr(dialect, method))  # type: ignore[misc]
    try:
        yield
    finally:
        for undo in reversed(restore):
            with suppress(Exception):
                undo()


@dataclass
class Timings:
    wall_ms: list[float]
    cpu_ms: list[float]  # this process's CPU time: Python, SQLAlchemy and psycopg, not PostgreSQL

    @staticmethod
    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]


def timed_requests(tracer: Tracer, send: Callable[[int], int], count: int, expect: int = 201) -> Timings:
    """Send `count` requests through `send(i) -> status`; their wall and CPU times in ms."""
    timings = Timings([], [])
    for i in range(count):
        cpu, started = time.process_time(), time.perf_counter()
        with tracer.step(REQUEST):
            status = send(i)
        timings.wall_ms.append((time.perf_counter() - started) * 1000)
        timings.cpu_ms.append((time.process_time() - cpu) * 1000)
        if status != expect:
            raise RuntimeError(f"in-process request {i} answered {status}, expected {expect}")
    return timings


_PACKAGES = (
    ("psycopg", "psycopg (driver; includes blocking waits for PostgreSQL)"),
    ("sqlalchemy", "SQLAlchemy (ORM, Core, pool)"),
    ("marshmallow", "marshmallow / webargs / flask-smorest / apispec"),
    ("webargs", "marshmallow / webargs / flask-smorest / apispec"),
    ("flask_smorest", "marshmallow / webargs / flask-smorest / apispec"),
    ("apispec", "marshmallow / webargs / flask-smorest / apispec"),
    ("werkzeug", "Flask / Werkzeug (incl. the test client)"),
    ("flask", "Flask / Werkzeug (incl. the test client)"),
    ("/backend/", "backend/ (LimbTrack's own code)"),
    ("/bench/", "bench/ (the measuring harness)"),
)


def _package(filename: str) -> str:
    for marker, name in _PACKAGES:
        if f"/{marker}/" in filename or (marker.startswith("/") and marker in filename):
            return name
    if filename == "~":
        return "builtins (C functions: json, hmac, uuid, dict, ...)"
    return "Python standard library and other"


def profile_top(send: Callable[[int], int], count: int, limit: int = 25) -> str:
    """cProfile `count` requests: own time by package, then the functions with the most own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(count):
        send(i)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    by_package: dict[str, float] = defaultdict(float)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        by_package[_package(filename)] += tottime
    total = sum(by_package.values())
    out.write(f"own time by package (cProfile, {count} requests; profiling inflates Python-heavy code):\n")
    for name, seconds in sorted(by_package.items(), key=lambda item: -item[1]):
        out.write(f"  {seconds * 1000 / count:7.2f} ms/req  {seconds / total:5.1%}  {name}\n")
    out.write("\n")
    stats.sort_stats("tottime").print_stats(limit)
    return out.getvalue()
