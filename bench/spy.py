"""Sample the gunicorn workers with py-spy under load, and summarise where they are.

Optional (`--py-spy`): needs the py-spy binary (`.venv/bin/pip install py-spy`). It runs
in an extra phase that is not among the measured ones, because the sampler itself takes
CPU on a two-core machine.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

# Inclusive time of these functions (matched on py-spy's "Class.function" names).
STEPS = (
    ("SyncWorker.handle_request", "whole request (gunicorn handle_request)"),
    ("ThreadWorker.handle_request", "whole request (gunicorn handle_request)"),
    ("authenticate_access_token", "auth: token -> actor"),
    ("participant_in_scope", "participant_in_scope"),
    ("find_replay", "idempotency: find_replay"),
    ("current_protocol", "current_protocol"),
    ("record_entry", "record_entry (INSERT, audit event, flags)"),
    ("record_audit", "audit: record_audit"),
    ("_flag_pain_rise", "flags: pain rise"),
    ("Session.flush", "ORM flush (INSERT/UPDATE)"),
    ("Session.commit", "session.commit"),
    ("_emit_lazyload", "ORM lazy loads (any step)"),
    ("_do_ping_w_event", "pool_pre_ping"),
    ("Schema.load", "marshmallow load"),
    ("Schema.dump", "marshmallow dump"),
)


def find_py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def record(py_spy: str, pid: int, seconds: int, output: Path) -> subprocess.Popen[bytes]:
    command = [
        py_spy,
        "record",
        "--pid",
        str(pid),
        "--subprocesses",
        "--idle",
        "--nonblocking",
        "--rate",
        "100",
        "--duration",
        str(seconds),
        "--format",
        "raw",
        "--output",
        str(output),
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603


def summarise(raw: Path) -> str:
    """Share of the workers' samples per step (inclusive) and how much of it is in psycopg."""
    total = 0
    in_step: Counter[str] = Counter()
    in_driver: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = stack.split(";")
        if len(frames) < 2 or not frames[1].startswith("process "):
            continue  # the gunicorn master
        count = int(count_text)
        total += count
        names = [frame.split(" (")[0] for frame in frames[2:]]
        driver = "psycopg/" in frames[-1]
        counted = set()
        for function, label in STEPS:
            if label not in counted and any(name == function or name.endswith("." + function) for name in names):
                counted.add(label)
                in_step[label] += count
                if driver:
                    in_driver[label] += count
    if not total:
        return "py-spy recorded no worker samples"
    lines = [f"py-spy: {total} samples of the 2 workers at 100 Hz (idle included); share of the workers' time:"]
    lines.append(f"  {'step (inclusive)':<42} {'time':>6} {'in psycopg (waiting on PostgreSQL)':>36}")
    seen = set()
    for _function, label in STEPS:
        if label in seen:
            continue
        seen.add(label)
        lines.append(f"  {label:<42} {in_step[label] / total:>6.1%} {in_driver[label] / total:>36.1%}")
    lines.append(
        f"  {'idle (no request: waiting to accept)':<42} "
        f"{1 - in_step['whole request (gunicorn handle_request)'] / total:>6.1%}"
    )
    return "\n".join(lines)
