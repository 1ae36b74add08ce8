"""Speed and memory of the ulcer-area estimator on 12-MP JPEGs, against Pillow's full decode.

Why: the requirement bounds measure_file by absolute time, by a multiple of what merely
decoding the photo costs (so the figure means something on any machine), and by memory.

    .venv/bin/python -m bench.ulcer_speed                      # 20 photos, 4000x3000
    .venv/bin/python -m bench.ulcer_speed -n 20 --size 4000x3000 --cpu 1 --rounds 2 --workdir /tmp/ulcer_speed

Photos come from bench/ulcer_synth.py (reused from --workdir when they match). Each phase
runs in a fresh child process pinned to one core (os.sched_setaffinity) with
OMP/OPENBLAS/MKL threads at 1, phases alternating over --rounds so a drift of the
machine's speed hits both alike:
 * decode:  ``with Image.open(p) as im: im.load(); im.convert("RGB")`` per photo;
 * measure: ``backend.imaging.measure_file(p)`` per photo (no seed point);
 * baseline: the imports only (interpreter + numpy + Pillow + backend.imaging).
Peak memory is the child's max RSS from os.wait4 (ru_maxrss), i.e. the whole process,
imports included; the baseline is printed so the estimator's own share can be read off.

Goals: measure_file median ≤ 0.6 s and ≤ 3x the full decode, peak ≤ 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

GOAL_SECONDS = 0.6
GOAL_RATIO = 3.0
GOAL_PEAK_MB = 300.0
CHILD_TIMEOUT_S = 1800.0


def _child(phase: str, cpu: int, files: Sequence[str]) -> int:
    """Run one phase in this (fresh) process and print its timings as JSON."""
    os.sched_setaffinity(0, {cpu})
    import resource

    from PIL import Image

    import backend.imaging as imaging  # imported in every phase, so the baselines agree

    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times: list[float] = []
    cpu_times: list[float] = []  # process CPU time: robust when other load shares the core
    if phase == "decode":
        for p in files:
            t0, c0 = time.perf_counter(), time.process_time()
            with Image.open(p) as im:
                im.load()
                rgb = im.convert("RGB")
            times.append(time.perf_counter() - t0)
            cpu_times.append(time.process_time() - c0)
            del rgb
    elif phase == "measure":
        for p in files:
            t0, c0 = time.perf_counter(), time.process_time()
            res = imaging.measure_file(p)
            times.append(time.perf_counter() - t0)
            cpu_times.append(time.process_time() - c0)
            del res
    elif phase != "baseline":
        raise SystemExit(f"unknown phase {phase}")
    print(json.dumps({"phase": phase, "times": times, "cpu_times": cpu_times, "after_import_kb": base_kb}))
    return 0


def run_phase(phase: str, cpu: int, files: Sequence[str], workdir: Path) -> dict[str, Any]:
    """Start a fresh pinned child for `phase`; return its timings and max RSS (MB)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out_path = workdir / f"_speed_{phase}.json"
    cmd = [sys.executable, "-m", "bench.ulcer_speed", "--child", phase, "--cpu", str(cpu), *files]
    with open(out_path, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(cmd, stdout=out, env=env, cwd=Path(__file__).resolve().parent.parent)  # noqa: S603
        deadline = time.monotonic() + CHILD_TIMEOUT_S
        while True:  # bounded by the deadline
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, ru = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"phase {phase} failed (exit {proc.returncode}); see stderr above")
    data: dict[str, Any] = json.loads(out_path.read_text(encoding="utf-8").strip().splitlines()[-1])
    data["max_rss_mb"] = ru.ru_maxrss / 1024.0  # Linux: KiB
    return data


def ensure_photos(workdir: Path, n: int, size: tuple[int, int], seed: int) -> list[str]:
    """N marker photos in workdir (reused when truth.jsonl matches)."""
    from bench.ulcer_synth import GENERATOR_VERSION, generate

    want = {"n": n, "size": list(size), "seed": seed, "no_marker_rate": 0.0, "generator": GENERATOR_VERSION}
    truth = workdir / "truth.jsonl"
    if truth.exists():
        with open(truth, encoding="utf-8") as f:
            recs = [json.loads(line) for line in f if line.strip()]
        if recs and all(r.get("run") == want for r in recs) and all((workdir / r["file"]).exists() for r in recs):
            return [str(workdir / r["file"]) for r in recs]
    print(f"generating {n} photos {size[0]}x{size[1]} into {workdir} ...", file=sys.stderr)
    recs = generate(workdir, n, size=size, seed=seed, no_marker_rate=0.0, jobs=2, progress=True)
    return [str(workdir / r["file"]) for r in recs]


def estimator_id() -> str:
    """ALGORITHM_VERSION plus a hash of backend/imaging's sources (it changes under us)."""
    from bench.ulcer_accuracy import estimator_id as eid

    return eid()


def main(argv: Sequence[str] | None = None) -> int:
    from bench.ulcer_synth import parse_size

    ap = argparse.ArgumentParser(description="measure_file time and memory against a full Pillow decode.")
    ap.add_argument("-n", type=int, default=20, help="photos (default 20)")
    ap.add_argument("--size", type=parse_size, default=(4000, 3000), help="WxH (default 4000x3000)")
    ap.add_argument("--seed", type=int, default=100, help="base seed of the photo set (default 100)")
    ap.add_argument("--cpu", type=int, default=None, help="core to pin to (default: the last allowed)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating decode/measure rounds (default 2)")
    ap.add_argument("--workdir", type=Path, default=None, help="keep photos here (reused); default: a temp dir")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    if args.child:
        return _child(args.child, cpu, args.files)

    tmp = None
    workdir = args.workdir
    if workdir is None:
        tmp = tempfile.mkdtemp(prefix="ulcer_speed_")
        workdir = Path(tmp)
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        files = ensure_photos(workdir, args.n, args.size, args.seed)
        mp = args.size[0] * args.size[1] / 1e6
        sizes = sorted(os.path.getsize(f) for f in files)
        print(
            f"photos: {len(files)} JPEGs {args.size[0]}x{args.size[1]} ({mp:.1f} MP), "
            f"median {statistics.median(sizes) / 1e6:.2f} MB; pinned to CPU {cpu}; {args.rounds} round(s)"
        )
        print(f"estimator: {estimator_id()}")
        base = run_phase("baseline", cpu, [], workdir)
        dec_t: list[float] = []
        mea_t: list[float] = []
        dec_c: list[float] = []
        mea_c: list[float] = []
        load0 = os.getloadavg()[0]
        dec_rss: list[float] = []
        mea_rss: list[float] = []
        first_measure: list[float] = []
        for _ in range(max(1, args.rounds)):
            d = run_phase("decode", cpu, files, workdir)
            m = run_phase("measure", cpu, files, workdir)
            dec_t += d["times"]
            mea_t += m["times"]
            dec_c += d["cpu_times"]
            mea_c += m["cpu_times"]
            dec_rss.append(d["max_rss_mb"])
            mea_rss.append(m["max_rss_mb"])
            first_measure.append(m["times"][0])
        med_d = statistics.median(dec_t)
        med_m = statistics.median(mea_t)
        ratio = med_m / med_d
        peak = max(mea_rss)
        print(f"\n{'':24} {'median':>9} {'p90':>9} {'max':>9} {'peak RSS':>10}")
        for name, ts, rss in (("full decode (Pillow)", dec_t, dec_rss), ("measure_file", mea_t, mea_rss)):
            q = sorted(ts)
            p90 = q[min(len(q) - 1, int(0.9 * len(q)))]
            print(f"{name:24} {statistics.median(ts):>8.3f}s {p90:>8.3f}s {q[-1]:>8.3f}s {max(rss):>7.0f} MB")
        print(f"{'imports only (baseline)':24} {'':>9} {'':>9} {'':>9} {base['max_rss_mb']:>7.0f} MB")
        print(
            f"CPU time (process_time) medians: decode {statistics.median(dec_c):.3f}s, measure_file "
            f"{statistics.median(mea_c):.3f}s, ratio {statistics.median(mea_c) / statistics.median(dec_c):.2f}x; "
            f"load average {load0:.2f} before, {os.getloadavg()[0]:.2f} after (wall times need a quiet machine)"
        )
        print(f"(first measure_file call of each child: {', '.join(f'{t:.3f}s' for t in first_measure)})")
        ok_t, ok_r, ok_m = med_m <= GOAL_SECONDS, ratio <= GOAL_RATIO, peak <= GOAL_PEAK_MB

        def goal(ok: bool) -> str:
            return "MET" if ok else "MISSED"

        print(f"\nmeasure_file median        {med_m:.3f} s      goal <= {GOAL_SECONDS} s: {goal(ok_t)}")
        print(f"ratio to full decode       {ratio:.2f}x        goal <= {GOAL_RATIO:.0f}x: {goal(ok_r)}")
        print(
            f"peak memory (measure)      {peak:.0f} MB       goal <= {GOAL_PEAK_MB:.0f} MB: {goal(ok_m)}"
            f"  (imports alone {base['max_rss_mb']:.0f} MB)"
        )
        return 1 if args.strict and not (ok_t and ok_r and ok_m) else 0
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
