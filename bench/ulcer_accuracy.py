"""Accuracy of the ulcer-area estimator (backend.imaging) on synthetic photos with exact truth.

Why: the requirement is about mm² against truth, which only a generator can give exactly
(bench/ulcer_synth.py renders the skin plane in mm and photographs it at 0-30° tilt).

    .venv/bin/python -m bench.ulcer_accuracy                  # 200 images, 4000x3000, with the seed point
    .venv/bin/python -m bench.ulcer_accuracy --no-seed-point  # as if the app gave no tap
    .venv/bin/python -m bench.ulcer_accuracy --both --workdir /tmp/ulcer_acc   # both, same images
    .venv/bin/python -m bench.ulcer_accuracy -n 50 --size 2000x1500 --seed 1 --jobs 2

It generates N photos (10 % without a marker, evenly spread; reused from --workdir when a
truth.jsonl of the same n/size/seed/rate is there), runs `measure_file` on each JPEG (with
the true in-ulcer point as `seed`, or none), and prints: images, coverage (share of
marker photos with an area_mm2), median absolute percentage error, share within 10 % and
5 % (misses count as outside), 90th percentile, mm² values given on marker-less photos,
status counts, breakdowns by Fitzpatrick type and tilt band, and the 5 worst cases with
their parameters. Diagnostics split each error into segmentation (area_px against the
true polygon's pixel area, IoU of the outlines) and calibration (mm² per px against the
truth's, marker corner error). Per-image results go to WORKDIR/results_<mode>.jsonl.

Goals: median ≤ 5 %, ≥ 90 % within 10 %, zero areas without a marker. Exit status 0
whatever the figures (1 with --strict when a goal is missed).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from bench.ulcer_synth import DEFAULT_NO_MARKER_RATE, GENERATOR_VERSION, generate, parse_size, polygon_area

GOAL_MEDIAN = 0.05
GOAL_WITHIN10 = 0.90
TILT_BANDS = ((0.0, 10.0), (10.0, 20.0), (20.0, 30.01))
ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV", 5: "V", 6: "VI"}


# ----------------------------------------------------------------------------- images


def ensure_images(
    workdir: Path, n: int, size: tuple[int, int], seed: int, rate: float, jobs: int
) -> list[dict[str, Any]]:
    """Reuse workdir's photos when they match the run, else (re)generate them."""
    truth = workdir / "truth.jsonl"
    want = {"n": n, "size": list(size), "seed": seed, "no_marker_rate": rate, "generator": GENERATOR_VERSION}
    if truth.exists():
        with open(truth, encoding="utf-8") as f:
            recs = [json.loads(line) for line in f if line.strip()]
        if recs and all(r.get("run") == want for r in recs) and all((workdir / r["file"]).exists() for r in recs):
            print(f"reusing {len(recs)} photos in {workdir}", file=sys.stderr)
            return recs
    t0 = time.perf_counter()
    print(f"generating {n} photos {size[0]}x{size[1]} into {workdir} ...", file=sys.stderr)
    recs = generate(workdir, n, size=size, seed=seed, no_marker_rate=rate, jobs=jobs, progress=True)
    print(f"generated in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return recs


# ----------------------------------------------------------------------------- metrics


def corner_error_px(found: Sequence[Sequence[float]] | None, true: Sequence[Sequence[float]] | None) -> float | None:
    """Max corner distance under the best cyclic order (either direction): order-agnostic."""
    if not found or not true or len(found) != 4:
        return None
    f = np.asarray(found, dtype=np.float64)
    t = np.asarray(true, dtype=np.float64)
    best = math.inf
    for cand in (f, f[::-1]):
        for k in range(4):
            best = min(best, float(np.linalg.norm(np.roll(cand, k, axis=0) - t, axis=1).max()))
    return best


def outline_iou(found: Sequence[Sequence[float]] | None, true: Sequence[Sequence[float]]) -> float | None:
    """IoU of two polygons, rasterised on their joint bounding box (at most ~800 px)."""
    if not found or len(found) < 3:
        return None
    f = np.asarray(found, dtype=np.float64)
    t = np.asarray(true, dtype=np.float64)
    both = np.vstack([f, t])
    lo, hi = both.min(0), both.max(0)
    scale = min(1.0, 800.0 / max(float((hi - lo).max()), 1.0))
    size = (int((hi[0] - lo[0]) * scale) + 3, int((hi[1] - lo[1]) * scale) + 3)

    def mask(p: np.ndarray) -> np.ndarray:
        im = Image.new("1", size, 0)
        ImageDraw.Draw(im).polygon([tuple(v) for v in ((p - lo) * scale + 1).tolist()], fill=1)
        return np.asarray(im, dtype=bool)

    a, b = mask(f), mask(t)
    union = int((a | b).sum())
    return float((a & b).sum()) / union if union else None


def _measure_one(job: tuple[str, dict[str, Any], bool]) -> dict[str, Any]:
    """Run measure_file on one photo; compare with its truth (runs in a worker)."""
    from backend.imaging import measure_file  # imported here: the estimator may be absent at import time

    path, truth, use_seed = job
    out: dict[str, Any] = {
        "file": truth["file"],
        "has_marker": truth["has_marker"],
        "true_area_mm2": truth["true_area_mm2"],
        "true_area_px": truth.get("true_area_px") or polygon_area([tuple(p) for p in truth["ulcer_polygon_px"]]),
    }
    seed = tuple(truth["seed_px"]) if use_seed else None
    t0 = time.perf_counter()
    try:
        res = measure_file(path, seed=seed)
    except Exception as exc:  # a crash is a result here, not a reason to stop the benchmark
        out.update(status="error", error=f"{type(exc).__name__}: {exc}", trace=traceback.format_exc(limit=3))
        out["seconds"] = time.perf_counter() - t0
        return out
    out["seconds"] = time.perf_counter() - t0
    out["status"] = str(res.status.value if hasattr(res.status, "value") else res.status)
    out["area_mm2"] = res.area_mm2
    out["area_px"] = res.area_px
    out["flags"] = [str(getattr(f, "value", f)) for f in res.flags]
    out["mm_per_px"] = res.mm_per_px
    out["corner_err_px"] = corner_error_px(res.marker_corners, truth.get("marker_corners_px"))
    out["marker_found"] = res.marker_corners is not None
    out["iou"] = outline_iou(res.outline, truth["ulcer_polygon_px"])
    if res.area_mm2 is not None:
        out["ape"] = abs(res.area_mm2 - truth["true_area_mm2"]) / truth["true_area_mm2"]
        out["signed_err"] = res.area_mm2 / truth["true_area_mm2"] - 1.0
    if res.area_px:
        out["seg_err"] = res.area_px / out["true_area_px"] - 1.0
        if res.area_mm2 is not None:
            out["cal_err"] = (res.area_mm2 / res.area_px) / (truth["true_area_mm2"] / out["true_area_px"]) - 1.0
    return out


# ----------------------------------------------------------------------------- report


def _pct(x: float | None, digits: int = 1) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.{digits}f} %"


def _quantile(vals: Sequence[float], q: float) -> float | None:
    return float(np.quantile(np.asarray(vals, dtype=np.float64), q)) if vals else None


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Figures over rows of marker photos (misses count as outside 5/10 %, infinite error)."""
    mk = [r for r in rows if r["has_marker"]]
    errs = [r["ape"] for r in mk if r.get("ape") is not None]
    with_miss = errs + [math.inf] * (len(mk) - len(errs))
    n = len(mk)
    return {
        "n": n,
        "coverage": len(errs) / n if n else None,
        "median_measured": _quantile(errs, 0.5),
        "median_all": _quantile(with_miss, 0.5) if n else None,
        "within10": sum(e <= 0.10 for e in errs) / n if n else None,
        "within5": sum(e <= 0.05 for e in errs) / n if n else None,
        "p90_measured": _quantile(errs, 0.9),
        "p90_all": _quantile(with_miss, 0.9) if n else None,
        "bias": _quantile([r["signed_err"] for r in mk if r.get("signed_err") is not None], 0.5),
    }


def _fmt_q(x: float | None) -> str:
    return "inf (misses)" if x is not None and math.isinf(x) else _pct(x)


def _goal(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def print_report(rows: list[dict[str, Any]], truths: dict[str, dict[str, Any]], mode: str, elapsed: float) -> bool:
    """Print the figures; return whether all goals were met."""
    mk = [r for r in rows if r["has_marker"]]
    nomk = [r for r in rows if not r["has_marker"]]
    s = summarise(rows)
    leaked = [r for r in nomk if r.get("area_mm2") is not None]
    print(f"\n=== ulcer accuracy: {mode} ===")
    print(f"images                      {len(rows)}  ({len(mk)} with marker, {len(nomk)} without)")
    print(f"measure_file time           median {_quantile([r['seconds'] for r in rows], 0.5):.2f} s/image "
          f"(benchmark {elapsed:.0f} s in all)")  # fmt: skip
    print(f"coverage (marker photos)    {_pct(s['coverage'])}  ({round((s['coverage'] or 0) * s['n'])}/{s['n']})")
    med_ok = s["median_all"] is not None and s["median_all"] <= GOAL_MEDIAN
    print(
        f"median |error|              {_fmt_q(s['median_all'])} over all marker photos (misses = inf); "
        f"{_pct(s['median_measured'])} over measured   goal <= 5 %: {_goal(med_ok)}"
    )
    w10_ok = s["within10"] is not None and s["within10"] >= GOAL_WITHIN10
    print(f"within 10 %                 {_pct(s['within10'])}   goal >= 90 %: {_goal(w10_ok)}")
    print(f"within 5 %                  {_pct(s['within5'])}")
    print(f"90th percentile |error|     {_fmt_q(s['p90_all'])} (all); {_pct(s['p90_measured'])} (measured)")
    print(f"median signed error (bias)  {_pct(s['bias'], 2)}")
    leak_ok = not leaked
    print(f"mm² given without marker    {len(leaked)} of {len(nomk)}   goal 0: {_goal(leak_ok)}")
    st_mk = Counter(r["status"] for r in mk)
    st_no = Counter(r["status"] for r in nomk)
    print(f"status, marker photos       {dict(sorted(st_mk.items()))}")
    print(f"status, no-marker photos    {dict(sorted(st_no.items()))}")
    flags = Counter(f for r in rows for f in r.get("flags") or [])
    print(f"flags                       {dict(sorted(flags.items()))}")
    errors = [r for r in rows if r["status"] == "error"]
    if errors:
        print(f"EXCEPTIONS                  {len(errors)}; first: {errors[0]['file']}: {errors[0]['error']}")
    _diagnostics(mk)

    print("\nby Fitzpatrick type (marker photos)")
    _breakdown(mk, truths, lambda p: ROMAN[p["fitzpatrick"]], [ROMAN[k] for k in range(1, 7)])
    print("\nby tilt band (marker photos)")
    labels = [f"{lo:.0f}-{min(hi, 30):.0f}°" for lo, hi in TILT_BANDS]

    def band(p: dict[str, Any]) -> str:
        for (lo, hi), lab in zip(TILT_BANDS, labels, strict=True):
            if lo <= p["tilt_deg"] < hi:
                return lab
        return labels[-1]

    _breakdown(mk, truths, band, labels)
    print("\nby true area (marker photos)")
    area_bands = [(0, 50), (50, 150), (150, 500), (500, 1e9)]
    area_labels = ["<50 mm²", "50-150", "150-500", ">=500"]

    def aband(p: dict[str, Any]) -> str:
        a = p["_true_area"]
        return next(lab for (lo, hi), lab in zip(area_bands, area_labels, strict=True) if lo <= a < hi)

    _breakdown(mk, truths, aband, area_labels)
    _worst(mk + leaked, truths)
    return med_ok and w10_ok and leak_ok


def _diagnostics(mk: Sequence[dict[str, Any]]) -> None:
    seg = [abs(r["seg_err"]) for r in mk if r.get("seg_err") is not None]
    cal = [abs(r["cal_err"]) for r in mk if r.get("cal_err") is not None]
    iou = [r["iou"] for r in mk if r.get("iou") is not None]
    ce = [r["corner_err_px"] for r in mk if r.get("corner_err_px") is not None]
    found = sum(1 for r in mk if r.get("marker_found"))
    print("diagnostics (marker photos):")
    print(f"  marker found              {found}/{len(mk)}; corner error median {_num(_quantile(ce, 0.5))} px, "
          f"p90 {_num(_quantile(ce, 0.9))} px, max {_num(max(ce) if ce else None)} px")  # fmt: skip
    print(f"  segmentation |area_px err| median {_pct(_quantile(seg, 0.5))}, p90 {_pct(_quantile(seg, 0.9))}; "
          f"IoU median {_num(_quantile(iou, 0.5), 3)}, p10 {_num(_quantile(iou, 0.1), 3)}")  # fmt: skip
    print(f"  calibration |mm²/px err|  median {_pct(_quantile(cal, 0.5))}, p90 {_pct(_quantile(cal, 0.9))}")


def _num(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _breakdown(
    mk: Sequence[dict[str, Any]], truths: dict[str, dict[str, Any]], key: Any, labels: Iterable[str]
) -> None:
    groups: dict[str, list[dict[str, Any]]] = {lab: [] for lab in labels}
    for r in mk:
        p = dict(truths[r["file"]]["params"])
        p["_true_area"] = r["true_area_mm2"]
        groups.setdefault(key(p), []).append(r)
    print(f"  {'group':<10} {'n':>4} {'coverage':>9} {'median':>9} {'<=10 %':>8} {'<=5 %':>8} {'p90':>9}")
    for lab, rs in groups.items():
        s = summarise(rs)
        if not s["n"]:
            print(f"  {lab:<10} {0:>4}")
            continue
        print(
            f"  {lab:<10} {s['n']:>4} {_pct(s['coverage']):>9} {_fmt_q(s['median_all']):>9} "
            f"{_pct(s['within10']):>8} {_pct(s['within5']):>8} {_fmt_q(s['p90_all']):>9}"
        )


WORST_PARAMS = (
    "fitzpatrick",
    "tilt_deg",
    "px_per_mm_centre",
    "blur_sigma_px",
    "noise_sigma",
    "jpeg_quality",
    "erythema_strength",
    "erythema_width_mm",
    "rim_strength",
    "slough_threshold",
    "eschar_threshold",
    "wb_gains",
    "marker_gap_mm",
)


def _worst(rows: Sequence[dict[str, Any]], truths: dict[str, dict[str, Any]], k: int = 5) -> None:
    def badness(r: dict[str, Any]) -> float:
        if not r["has_marker"]:
            return math.inf  # an area without a marker is the worst kind of error
        return r["ape"] if r.get("ape") is not None else 1e9

    print(f"\nworst {k} cases")
    for r in sorted(rows, key=badness, reverse=True)[:k]:
        p = truths[r["file"]]["params"]
        est = "-" if r.get("area_mm2") is None else f"{r['area_mm2']:.1f}"
        print(
            f"  {r['file']}  status={r['status']}  true={r['true_area_mm2']:.1f} mm²  est={est} mm²  "
            f"err={_pct(r.get('signed_err'))}  seg={_pct(r.get('seg_err'))}  cal={_pct(r.get('cal_err'), 2)}  "
            f"IoU={_num(r.get('iou'), 3)}  corner={_num(r.get('corner_err_px'))} px  flags={r.get('flags')}"
        )
        if r.get("error"):
            print(f"    error: {r['error']}")
        vals = []
        for name in WORST_PARAMS:
            v = p.get(name)
            if isinstance(v, float):
                v = round(v, 2)
            elif isinstance(v, list):
                v = [round(x, 2) for x in v]
            vals.append(f"{name}={v}")
        print("    " + " ".join(vals) + f" seed={p.get('seed')}")


# ----------------------------------------------------------------------------- main


def run_mode(
    workdir: Path, truths: list[dict[str, Any]], use_seed: bool, jobs: int, strict_ok: list[bool]
) -> list[dict[str, Any]]:
    """Measure every photo in one mode, print the report, save results_<mode>.jsonl."""
    mode = "with seed point" if use_seed else "no seed point"
    work = [(str(workdir / t["file"]), t, use_seed) for t in truths]
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as ex:
            for i, r in enumerate(ex.map(_measure_one, work), 1):
                rows.append(r)
                print(f"\r{mode}: {i}/{len(work)}", end="", file=sys.stderr, flush=True)
    else:
        for i, job in enumerate(work, 1):
            rows.append(_measure_one(job))
            print(f"\r{mode}: {i}/{len(work)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    elapsed = time.perf_counter() - t0
    by_file = {t["file"]: t for t in truths}
    strict_ok.append(print_report(rows, by_file, mode, elapsed))
    out = workdir / f"results_{'seed' if use_seed else 'noseed'}.jsonl"
    with open(out, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    print(f"per-image results: {out}")
    return rows


def estimator_id() -> str:
    """ALGORITHM_VERSION plus a hash of backend/imaging's sources: which estimator was measured."""
    import hashlib

    from backend.imaging import ALGORITHM_VERSION

    src = Path(__file__).resolve().parent.parent / "backend" / "imaging"
    h = hashlib.sha256()
    for f in sorted(src.glob("*.py")):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return f"ALGORITHM_VERSION={ALGORITHM_VERSION} sources sha256={h.hexdigest()[:12]}"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Ulcer-area accuracy on synthetic photos.")
    ap.add_argument("-n", type=int, default=200, help="photos (default 200)")
    ap.add_argument("--size", type=parse_size, default=(4000, 3000), help="WxH (default 4000x3000)")
    ap.add_argument("--seed", type=int, default=0, help="base seed of the photo set (default 0)")
    ap.add_argument("--no-marker-rate", type=float, default=DEFAULT_NO_MARKER_RATE)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--with-seed-point", dest="seed_point", action="store_const", const="seed", default="seed")
    g.add_argument("--no-seed-point", dest="seed_point", action="store_const", const="noseed")
    g.add_argument("--both", dest="seed_point", action="store_const", const="both", help="both modes, same photos")
    ap.add_argument("--workdir", type=Path, default=None, help="keep photos here (reused); default: a temp dir")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = ap.parse_args(argv)

    tmp = None
    workdir = args.workdir
    if workdir is None:
        tmp = tempfile.mkdtemp(prefix="ulcer_acc_")
        workdir = Path(tmp)
    try:
        truths = ensure_images(workdir, args.n, args.size, args.seed, args.no_marker_rate, args.jobs)
        print(f"photos: n={args.n} size={args.size[0]}x{args.size[1]} seed={args.seed} dir={workdir}")
        print(f"estimator: {estimator_id()}")
        ok: list[bool] = []
        modes = {"seed": [True], "noseed": [False], "both": [True, False]}[args.seed_point]
        for use_seed in modes:
            run_mode(workdir, truths, use_seed, args.jobs, ok)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 1 if args.strict and not all(ok) else 0


if __name__ == "__main__":
    sys.exit(main())
