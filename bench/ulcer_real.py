"""Ulcer outlines and areas on real foot-ulcer photographs (FUSeg): prints its figures.

    .venv/bin/python -m bench.ulcer_real --data PATH [--split dev|heldout] [--limit N]
        [--composites N] [--seed S]

PATH (or env LIMBTRACK_FUSEG_DIR) holds images/NNNN.jpg and labels/NNNN.png: the training
split of the Foot Ulcer Segmentation Challenge, from the public repository
uwm-bigdata/wound-segmentation (see bench/README.md). Nothing derived from it is stored.

The 810 photos are split once, by SPLIT_SEED, into a development part (the first 60 % of
a permutation) that the segmentation was tuned on and a held-out part that is only
reported on.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from backend.imaging import Analysis, Status, measure_file, measure_image, polygon_area_mm2

SPLIT_SEED = 16
DEV_SHARE = 0.6
COMPOSITE_LONG_SIDE = 4000  # 4000 x 3000: 12 MP
MARKER_SIDE_MM = 20.0
MARKER_MARGIN_MM = 5.0
MARKER_RGB = (20, 70, 200)

BoolArray = NDArray[np.bool_]
F64 = NDArray[np.float64]


def split(ids: list[str], part: str) -> list[str]:
    order = np.random.default_rng(SPLIT_SEED).permutation(len(ids))
    cut = round(DEV_SHARE * len(ids))
    chosen = order[:cut] if part == "dev" else order[cut:]
    return [ids[i] for i in sorted(chosen)]


def load(data: Path, photo: str) -> tuple[Image.Image, BoolArray]:
    image = Image.open(data / "images" / f"{photo}.jpg").convert("RGB")
    mask = np.asarray(Image.open(data / "labels" / f"{photo}.png").convert("L")) > 127
    return image, mask


def tap_of(mask: BoolArray) -> tuple[float, float]:
    """The point deepest inside the mask (its distance-transform maximum)."""
    dt = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(np.argmax(dt)), dt.shape)
    return (x + 0.5, y + 0.5)


def jittered_tap(mask: BoolArray, rng: np.random.Generator) -> tuple[float, float]:
    ys, xs = np.nonzero(mask)
    k = int(rng.integers(len(ys)))
    return (xs[k] + 0.5, ys[k] + 0.5)


def rough_box(mask: BoolArray, rng: np.random.Generator) -> tuple[float, float, float, float]:
    """The mask's bounding box pushed out by a random 10-25 % of its size per side."""
    ys, xs = np.nonzero(mask)
    x0, x1, y0, y1 = float(xs.min()), float(xs.max() + 1), float(ys.min()), float(ys.max() + 1)
    w, h = x1 - x0, y1 - y0
    f = rng.uniform(0.10, 0.25, 4)
    hh, ww = mask.shape
    return (max(0.0, x0 - f[0] * w), max(0.0, y0 - f[1] * h), min(ww, x1 + f[2] * w), min(hh, y1 + f[3] * h))


def raster(outline: list[tuple[float, float]] | None, size: tuple[int, int]) -> BoolArray:
    img = Image.new("1", size, 0)
    if outline is not None and len(outline) >= 3:
        ImageDraw.Draw(img).polygon([(x - 0.5, y - 0.5) for x, y in outline], fill=1)
    return np.array(img, dtype=np.bool_)


def dice(a: BoolArray, b: BoolArray) -> float:
    total = int(a.sum()) + int(b.sum())
    return 2.0 * int((a & b).sum()) / total if total else 1.0


def ita_of_ring(image: Image.Image, mask: BoolArray) -> float:
    """Individual typology angle of the skin in a ring around the wound (degrees)."""
    m = mask.astype(np.uint8)
    r = max(3, round(0.03 * max(mask.shape)))
    ring = cv2.dilate(m, np.ones((2 * r + 1, 2 * r + 1), np.uint8)).astype(bool) & ~mask
    lab = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2Lab).astype(np.float64)
    l_star = np.median(lab[ring][:, 0]) * 100.0 / 255.0
    b_star = np.median(lab[ring][:, 2]) - 128.0
    return math.degrees(math.atan2(l_star - 50.0, b_star))


def tone_bin(ita: float) -> str:
    return "light (ITA>41)" if ita > 41 else ("intermediate (10..41)" if ita > 10 else "dark (ITA<=10)")


def size_bin(share: float) -> str:
    return "small (<0.5 %)" if share < 0.005 else ("medium (0.5-2 %)" if share < 0.02 else "large (>2 %)")


@dataclass
class Composite:
    jpeg_with: bytes
    jpeg_without: bytes
    true_mm2: float
    tap: tuple[float, float]
    box: tuple[float, float, float, float]


def composite(image: Image.Image, mask: BoolArray, rng: np.random.Generator) -> Composite | None:
    """The photo as a 12 MP shot of the skin plane with the marker beside the wound.

    The photo's pixels are taken as the skin plane at `mm_px` mm per pixel; the marker is drawn
    in that plane, then the whole plane is rotated and tilted by one homography, so the true
    area is the mask's pixel count times mm_px squared whatever the camera did.
    """
    w0, h0 = image.size
    k = COMPOSITE_LONG_SIDE / max(w0, h0)
    mm_px = float(rng.uniform(0.3, 0.6)) / k  # mm per composite-plane px (0.3-0.6 mm per photo px)
    size = (round(w0 * k), round(h0 * k))
    plane = np.asarray(image.resize(size, Image.Resampling.BICUBIC)).copy()
    sticker = (MARKER_SIDE_MM + 2 * MARKER_MARGIN_MM) / mm_px
    big_mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    keep_out = cv2.dilate(big_mask.astype(np.uint8), np.ones((41, 41), np.uint8)).astype(bool)
    angle = math.radians(float(rng.uniform(0, 90)))
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    unit = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])
    placed = None
    for _ in range(60):
        c = np.array([rng.uniform(0.12, 0.88) * size[0], rng.uniform(0.12, 0.88) * size[1]])
        outer = c + (unit * sticker) @ rot.T
        probe = np.zeros((size[1], size[0]), np.uint8)
        cv2.fillPoly(probe, [np.round(outer).astype(np.int32)], 1)
        inside = outer.min() > 0 and (outer[:, 0].max() < size[0]) and (outer[:, 1].max() < size[1])
        if inside and not (probe.astype(bool) & keep_out).any():
            placed = c
            break
    if placed is None:
        return None
    camera = _camera(size, rng)
    tap = tap_of(mask)
    without = cv2.warpPerspective(plane, camera, size, flags=cv2.INTER_LINEAR, borderValue=(40, 40, 40))
    shift = 16  # fixed-point sub-pixel drawing
    for side, colour in ((sticker, (246, 246, 244)), (MARKER_SIDE_MM / mm_px, MARKER_RGB)):
        quad = placed + (unit * side) @ rot.T
        cv2.fillPoly(plane, [np.round(quad * (1 << shift)).astype(np.int32)], colour, cv2.LINE_AA, shift)
    with_marker = cv2.warpPerspective(plane, camera, size, flags=cv2.INTER_LINEAR, borderValue=(40, 40, 40))
    corners = _apply(camera, placed + (unit * sticker) @ rot.T)
    if corners.min() < 0 or corners[:, 0].max() >= size[0] or corners[:, 1].max() >= size[1]:
        return None
    tap_c = _apply(camera, np.array([[tap[0] * k, tap[1] * k]]))[0]
    # The patient draws the box on the photo as taken: around the wound as it appears there.
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    seen = _apply(camera, (np.concatenate([c.reshape(-1, 2) for c in contours]) + 0.5) * k)
    x0, y0 = seen.min(axis=0)
    x1, y1 = seen.max(axis=0)
    f = rng.uniform(0.10, 0.25, 4)
    bw, bh = x1 - x0, y1 - y0
    box_c = (
        max(0.0, float(x0 - f[0] * bw)),
        max(0.0, float(y0 - f[1] * bh)),
        min(float(size[0]), float(x1 + f[2] * bw)),
        min(float(size[1]), float(y1 + f[3] * bh)),
    )
    return Composite(
        jpeg_with=_jpeg(with_marker),
        jpeg_without=_jpeg(without),
        true_mm2=float(mask.sum()) * (mm_px * k) ** 2,
        tap=(float(tap_c[0]), float(tap_c[1])),
        box=box_c,
    )


def _camera(size: tuple[int, int], rng: np.random.Generator) -> F64:
    """Rotation by up to 20 degrees about the centre and a mild perspective tilt (corners moved
    by up to 4 % of the long side)."""
    w, h = size
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    a = math.radians(float(rng.uniform(-20, 20)))
    c = np.array([w / 2, h / 2])
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    dst = (src - c) @ rot.T * 0.92 + c + rng.uniform(-0.04, 0.04, (4, 2)) * max(w, h)
    return np.asarray(cv2.getPerspectiveTransform(src, dst.astype(np.float32)), dtype=np.float64)


def _apply(h: F64, pts: F64) -> F64:
    q = np.column_stack([pts, np.ones(len(pts))]) @ h.T
    return np.asarray(q[:, :2] / q[:, 2:3], dtype=np.float64)


def _jpeg(rgb: NDArray[np.uint8]) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "JPEG", quality=90)
    return out.getvalue()


def summary(values: list[float], share_at: float = 0.8) -> str:
    if not values:
        return "n=0"
    v = np.asarray(values)
    return f"mean {v.mean():.3f}  median {np.median(v):.3f}  >= {share_at}: {np.mean(v >= share_at):.0%}  (n={len(v)})"


def dice_part(data: Path, photos: list[str], seed: int) -> dict[str, list[tuple[str, float, str, str]]]:
    modes: dict[str, list[tuple[str, float, str, str]]] = {"box+tap": [], "tap": [], "jittered tap": [], "none": []}
    for photo in photos:
        image, mask = load(data, photo)
        if not mask.any():
            continue
        rng = np.random.default_rng([seed, int(photo)])
        tone = tone_bin(ita_of_ring(image, mask))
        size = size_bin(float(mask.mean()))
        anchors = {
            "box+tap": {"seed": tap_of(mask), "box": rough_box(mask, rng)},
            "tap": {"seed": tap_of(mask)},
            "jittered tap": {"seed": jittered_tap(mask, rng)},
            "none": {},
        }
        for mode, kw in anchors.items():
            a: Analysis = measure_image(image, **kw)  # type: ignore[arg-type]
            modes[mode].append((photo, dice(mask, raster(a.outline, image.size)), tone, size))
    return modes


def area_part(data: Path, photos: list[str], seed: int, limit: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for photo in photos:
        if len(rows) >= limit:
            break
        image, mask = load(data, photo)
        if not mask.any():
            continue
        rng = np.random.default_rng([seed, int(photo), 1])
        comp = composite(image, mask, rng)
        if comp is None:
            continue
        t0 = time.process_time()
        a = measure_file(io.BytesIO(comp.jpeg_with), seed=comp.tap, box=comp.box)
        cpu = time.process_time() - t0
        b = measure_file(io.BytesIO(comp.jpeg_without), seed=comp.tap, box=comp.box)
        # The outline's area through the marker, whether or not it was trusted with an mm².
        area = None
        if a.outline is not None and a.homography is not None:
            area = polygon_area_mm2(a.outline, a.homography)
        err = None if area is None else (area - comp.true_mm2) / comp.true_mm2
        rows.append(
            {
                "photo": photo,
                "status": a.status.value,
                "marker": a.marker_corners is not None,
                "error": err,
                "cpu_s": cpu,
                "mm2_without_marker": b.area_mm2 is not None,
                "tone": tone_bin(ita_of_ring(image, mask)),
                "size": size_bin(float(mask.mean())),
            }
        )
    return rows


def area_summary(rows: list[dict[str, object]]) -> list[str]:
    """Area error of every outline measured through a found marker (trusted or not), then of `ok` ones."""
    out = []
    errs = [abs(float(r["error"])) for r in rows if r["error"] is not None]  # type: ignore[arg-type]
    ok = [r for r in rows if r["status"] == Status.OK.value]
    ok_errs = [abs(float(r["error"])) for r in ok]  # type: ignore[arg-type]
    n = len(rows)
    out.append(f"composites: {n}; marker found on {sum(bool(r['marker']) for r in rows)}")
    if errs:
        e = np.asarray(errs)
        out.append(
            f"  every outline through the marker ({len(e)}): median |error| {np.median(e):.1%}, "
            f"within 10 %: {np.mean(e <= 0.1):.0%}, within 20 %: {np.mean(e <= 0.2):.0%}"
        )
    out.append(f"  status ok: {len(ok)}/{n} = {len(ok) / max(n, 1):.0%}")
    if ok_errs:
        within = np.mean(np.asarray(ok_errs) <= 0.2)
        out.append(f"  of ok: within 20 %: {within:.0%}, median |error| {np.median(ok_errs):.1%}")
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1
    out.append(f"  statuses: {json.dumps(statuses)}")
    out.append(f"  mm² given without a marker: {sum(bool(r['mm2_without_marker']) for r in rows)}")
    cpu = np.asarray([float(r["cpu_s"]) for r in rows])  # type: ignore[arg-type]
    if len(cpu):
        out.append(f"  CPU per 12 MP photo (one core): median {np.median(cpu):.2f} s, max {cpu.max():.2f} s")
    return out


# VmHWM, not ru_maxrss: Linux carries the forking parent's peak into ru_maxrss across exec.
PEAK_CHILD = """
import io, sys, time
def hwm():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
from backend.imaging import measure_file
data = sys.stdin.buffer.read()
tap = (float(sys.argv[1]), float(sys.argv[2]))
box = tuple(float(v) for v in sys.argv[3:7])
base = hwm()
t0 = time.process_time()
measure_file(io.BytesIO(data), seed=tap, box=box)
print(base, hwm(), time.process_time() - t0)
"""


def peak_memory(data: Path, photo: str, seed: int) -> str:
    image, mask = load(data, photo)
    comp = composite(image, mask, np.random.default_rng([seed, int(photo), 1]))
    if comp is None:
        return "peak memory: no composite"
    args = [sys.executable, "-c", PEAK_CHILD, *map(str, comp.tap), *map(str, comp.box)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # Our own interpreter, our own script: nothing untrusted reaches the command line.
    done = subprocess.run(args, input=comp.jpeg_with, capture_output=True, check=True, env=env, timeout=120)  # noqa: S603
    base, peak, cpu = done.stdout.split()
    return (
        f"one 12 MP photo in a fresh process: peak RSS {int(peak) / 1024:.0f} MB "
        f"(after imports {int(base) / 1024:.0f} MB), CPU {float(cpu):.2f} s"
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=os.environ.get("LIMBTRACK_FUSEG_DIR"))
    p.add_argument("--split", choices=("dev", "heldout"), default="heldout")
    p.add_argument("--limit", type=int, default=0, help="only the first N photos of the split (0: all)")
    p.add_argument("--composites", type=int, default=60, help="12 MP composites to build and measure")
    p.add_argument("--seed", type=int, default=0, help="seed of the jitter, boxes and composites")
    p.add_argument("--skip-dice", action="store_true")
    args = p.parse_args(argv)
    if args.data is None or not (args.data / "images").is_dir():
        p.error("give --data PATH (or LIMBTRACK_FUSEG_DIR) holding images/ and labels/; see bench/README.md")
    resource.setrlimit(resource.RLIMIT_CPU, (3600, 3600))
    ids = sorted(f.stem for f in (args.data / "images").glob("*.jpg"))
    photos = split(ids, args.split)
    if args.limit:
        photos = photos[: args.limit]
    print(f"FUSeg {args.split} part: {len(photos)} photos (split seed {SPLIT_SEED}, jitter seed {args.seed})")
    if not args.skip_dice:
        modes = dice_part(args.data, photos, args.seed)
        print("Dice against the expert mask:")
        for mode, rows in modes.items():
            print(f"  {mode:13s} {summary([d for _, d, _, _ in rows])}")
        box_rows = modes["box+tap"]
        for key, idx in (("skin tone", 2), ("wound size", 3)):
            for label in sorted({r[idx] for r in box_rows}):
                print(f"  box+tap, {key} {label:22s} {summary([r[1] for r in box_rows if r[idx] == label])}")
    rows = area_part(args.data, photos, args.seed, args.composites)
    print("mm² on 12 MP composites (box + tap):")
    for line in area_summary(rows):
        print(line)
    for key in ("tone", "size"):
        for label in sorted({str(r[key]) for r in rows}):
            part = [r for r in rows if r[key] == label]
            errs = [abs(float(r["error"])) for r in part if r["error"] is not None]  # type: ignore[arg-type]
            med = f"{np.median(errs):.1%}" if errs else "-"
            print(f"  {key} {label:22s} n={len(part)}  median |error| {med}")
    if photos:
        print(peak_memory(args.data, photos[0], args.seed))


if __name__ == "__main__":
    main()
