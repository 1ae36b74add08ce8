"""Instructions per POST /api/v1/me/pain-scores, counted by valgrind's callgrind, for
LimbTrack and for the minimal endpoint, in process (Flask test client, PostgreSQL).

Why: the load bench (pain_scores.py) measures what the issue asks, but this machine's
speed drifts by 10-30 % from one minute to the next, which hides a change of a few
percent. An instruction count does not drift: the same code, data and interpreter give
the same count (within about 1 %) whatever else the machine is doing; the same code in
another checkout has counted up to 1.5 % apart, so compare changes smaller than that
within one checkout. It counts this Python process only (Flask, SQLAlchemy, psycopg,
LimbTrack), not PostgreSQL's work, and not gunicorn's.

    .venv/bin/python -m bench.instructions                 # about a minute and a half
    .venv/bin/python -m bench.instructions --requests 500  # more requests per count
    .venv/bin/python -m bench.instructions --root ../other-checkout   # count that code

Needs valgrind (Debian: apt-get install valgrind) and PostgreSQL on 127.0.0.1:5432 as
pain_scores.py does. Each count runs in a child process under
`valgrind --tool=callgrind --instr-atstart=no`: the child starts, warms up (pools, caches,
every patient's first score of the day), and only then is instrumentation switched on
(callgrind_control -i on) for the measured requests.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WARM_UP = 60
ROTATION = 20  # patients posting the "later score of the day"
READY = "READY"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--requests", type=int, default=200, help="measured requests per count (default 200)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the LimbTrack checkout to count (default: this)")
    parser.add_argument("--child", nargs=4, metavar=("SPEC", "WHAT", "N", "GO"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def child(spec_path: str, what: str, count: int, go: Path) -> None:
    """Runs under callgrind: build the app, warm up, wait for instrumentation, post."""
    sys.path.insert(0, os.getcwd())  # the checkout being counted (--root)
    spec = json.loads(Path(spec_path).read_text())
    os.environ.update(spec["env"])
    from bench import minimal_app
    from bench.pain_scores import LIMBTRACK_PATH, _payload

    if what == "minimal":
        client = minimal_app.create_app(spec["env"]["DATABASE_URL"]).test_client()

        def send(patient: list[Any]) -> int:
            return client.post(minimal_app.PATH, json={"patient": patient[0], **_payload(7)}).status_code
    else:
        from backend.app import create_app
        from backend.config import Config

        client = create_app(Config.from_env(spec["env"])).test_client()

        def send(patient: list[Any]) -> int:
            headers = {"Authorization": f"Bearer {patient[1]}"}
            return client.post(LIMBTRACK_PATH, json=_payload(7), headers=headers).status_code

    rotation = spec["rotation"]
    for i in range(WARM_UP):  # pools, caches, code paths; every rotation patient scores today
        assert send(rotation[i % len(rotation)]) == 201, "warm-up request failed"
    # "first": one request per patient who has no score today; else the rotation's later ones
    measured = spec["fresh"] if what == "first" else rotation
    print(READY, flush=True)
    while not go.exists():
        time.sleep(0.05)
    for i in range(count):
        status = send(measured[i % len(measured)])
        assert status == 201, f"request {i}: {status}"
    os._exit(0)  # no interpreter teardown in the count


def count_instructions(root: Path, spec: Path, what: str, requests: int, workdir: Path) -> int:
    """Run one child under callgrind and return the instructions it executed while on."""
    out, go = workdir / f"callgrind.{what}", workdir / f"go.{what}"
    python = root / ".venv" / "bin" / "python"
    command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
    command += [str(python), __file__, "--child", str(spec), what, str(requests), str(go)]
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if line.strip() != READY:
            raise RuntimeError(
                f"{what}: the child did not start: {line}{process.stderr.read() if process.stderr else ''}"
            )
        subprocess.run(["callgrind_control", "-i", "on", str(process.pid)], check=True, capture_output=True)  # noqa: S603, S607
        go.touch()
        _, errors = process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
    if process.returncode != 0:
        raise RuntimeError(f"{what}: the child failed ({process.returncode}):\n{errors[-2000:]}")
    totals = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.MULTILINE)
    if totals is None:
        raise RuntimeError(f"{what}: no totals in {out}")
    return int(totals.group(1))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        spec, what, count, go = args.child
        child(spec, what, int(count), Path(go))
        return 0
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            print(f"needs {tool}: apt-get install valgrind", file=sys.stderr)
            return 2
    sys.path.insert(0, str(ROOT))
    from backend.config import Config
    from bench.pain_scores import bench_database, log, seed, server_env

    with (
        tempfile.TemporaryDirectory(prefix="limbtrack-instructions-") as tmp,
        bench_database(args.admin_url, keep=False) as database_url,
    ):
        workdir = Path(tmp)
        env = server_env(workdir, database_url)
        log(f"enrolling {ROTATION + args.requests} patients")
        patients = seed(database_url, Config.from_env(env), ROTATION + args.requests)
        spec = workdir / "spec.json"
        spec.write_text(
            json.dumps(
                {
                    "env": env,
                    "rotation": [[p.participant_id, p.token] for p in patients[:ROTATION]],
                    "fresh": [[p.participant_id, p.token] for p in patients[ROTATION:]],
                }
            )
        )
        counts = {}
        for what in ("later", "first", "minimal"):
            log(f"counting {what} ({args.requests} requests under callgrind)")
            counts[what] = count_instructions(args.root, spec, what, args.requests, workdir) / args.requests
    print()
    print(f"Instructions per request, this process only (callgrind; {args.requests} requests each; code: {args.root})")
    titles = {
        "later": "LimbTrack, later score of the day (the load's usual request)",
        "first": "LimbTrack, first score of the day",
        "minimal": "minimal endpoint",
    }
    for what, title in titles.items():
        ratio = "" if what == "minimal" else f"   minimal / this = {counts['minimal'] / counts[what]:.0%}"
        print(f"  {title:<62} {counts[what] / 1e6:6.2f} M{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
