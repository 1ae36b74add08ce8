"""Realistic-day load bench: a study of N participants (default 10,000) at its evening
peak, driven at `--scale` times (default 10) that peak's request rate against
`gunicorn -w 2` (sync workers) on a fresh PostgreSQL database.

    bench/realistic-day                        # = .venv/bin/python -m bench.realistic_day
    bench/realistic-day --duration 20          # a smoke run
    bench/realistic-day --scale 10 --duration 180 --participants 10000

The day model (`DAY_MODEL`, printed at the start and written down in bench/README.md)
gives each endpoint class a count per day and the share of it that falls in the evening
peak (20:00-22:00 local); peak rate = count x share / peak seconds; the bench offers
`scale` x that, in an open loop (Poisson arrivals by default, latency counted from when
a request was due), bounded in count and time, to 127.0.0.1 only.

Steps: the template database (bench/realistic_seed.py; seeded once, reused within the
evening) is cloned to `limbtrack_loadbench_run_<time>_<pid>`; 12-MP phone JPEGs with the
blue marker are rendered with Pillow (bench/ulcer_synth.py, cached in the temp
directory); LimbTrack starts under `gunicorn -w 2 wsgi:app` (LIMBTRACK_ENV=production);
each site's nurse signs in through the API; every class is warmed up; then the measured
phase; then the report: per class p50/p95/p99/max latency, errors and 5xx, offered and
achieved throughput; CPU per request of the server and of PostgreSQL and the other
processes' cores (from /proc); each worker's peak memory (VmHWM); the goals; and a check
that the database holds one new row per accepted entry. The run's database is dropped on
every exit path (the template is kept for the next run).

Exit status: 0 when the run was valid (row counts match; errors are a goal, reported),
2 when it was not, 1 with --strict when a goal is not met.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import queue
import random
import signal
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import loadgen, realistic_seed, ulcer_synth  # noqa: E402
from bench.pain_scores import (  # noqa: E402
    Server,
    _proc_stat,
    busiest_processes,
    cpu_delta,
    cpu_snapshot,
    machine_cpu,
    server_env,
    start_gunicorn,
    wait_for_quiet,
    wait_ready,
)

HOST = "127.0.0.1"
API = "/api/v1"
PEAK_SECONDS = 2 * 3600
JSON_P99_GOAL_MS = 250.0
PHOTO_P99_GOAL_MS = 2000.0
NOISY_CORES = 0.2


# --- the day model ---------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointClass:
    name: str
    method: str
    path: str  # for the report; the factory builds the real one
    per_day: Callable[[int], float]  # requests per day for N participants
    peak_share: float  # of the day's requests, the share in the peak window
    peak_seconds: float
    model: str  # how per_day and the share were reached, for the printout and the README
    expect: int
    photo: bool = False

    def peak_rate(self, n: int) -> float:
        return self.per_day(n) * self.peak_share / self.peak_seconds


NURSES_PER_SITE = 2
SHIFT_SECONDS = 8 * 3600


def _nurses(n: int) -> int:
    return NURSES_PER_SITE * _sites(n)


def _sites(n: int) -> int:
    return max(1, round(n / 500))


DAY_MODEL: tuple[EndpointClass, ...] = (
    EndpointClass(
        "diary", "POST", "/me/pain-scores", lambda n: n, 0.70, PEAK_SECONDS,
        "1 score per participant per day, 70 % between 20:00 and 22:00 (the 20:00 reminder)", 201,
    ),
    EndpointClass(
        "tasks", "GET", "/me/tasks", lambda n: 3 * n, (2 * 0.70 + 1 * 2 / 14) / 3, PEAK_SECONDS,
        "3 reads per participant per day: before and after the diary (in the peak with it), and 1 other app "
        "open spread over 14 waking hours",
        200,
    ),
    EndpointClass(
        "summary", "GET", "/me/summary", lambda n: 2 * n, (1 * 0.70 + 1 * 2 / 14) / 2, PEAK_SECONDS,
        "2 reads per participant per day: after the diary (in the peak with it), and 1 other open over 14 hours",
        200,
    ),
    EndpointClass(
        "walk", "POST", "/me/walk-tests", lambda n: n / 7, 0.30, PEAK_SECONDS,
        "1 six-minute walk per participant per week, 30 % of them after the evening reminder", 201,
    ),
    EndpointClass(
        "photo", "POST", "/me/ulcers/{id}/photos", lambda n: n * 0.6 / 7, 0.30, PEAK_SECONDS,
        "60 % of participants have an ulcer, 1 photo a week, 30 % of them in the evening peak", 201, photo=True,
    ),
    EndpointClass(
        "symptom", "POST", "/me/symptoms", lambda n: n * 0.02, 0.40, PEAK_SECONDS,
        "2 % of participants report a symptom on a given day, 40 % of them in the evening", 201,
    ),
    EndpointClass(
        "sync", "POST", "/me/sync", lambda n: n * 0.05, 0.40, PEAK_SECONDS,
        "5 % of participants were offline and send a batch (3 diary days + 1 walk) once a day, "
        "40 % in the evening when they are home on wifi",
        200,
    ),
    EndpointClass(
        "nurse participants", "GET", "/participants", lambda n: _nurses(n) * 40, 1.0, SHIFT_SECONDS,
        "2 nurses per site of 500 participants, 40 list views each per 8-hour shift; the shift's rate is "
        "added on top of the evening peak (sites in several time zones)",
        200,
    ),
    EndpointClass(
        "nurse flags", "GET", "/flags", lambda n: _nurses(n) * 40, 1.0, SHIFT_SECONDS,
        "as above: 40 flag-queue views per nurse per shift", 200,
    ),
    EndpointClass(
        "nurse review", "GET", "/review/photos", lambda n: _nurses(n) * 20, 1.0, SHIFT_SECONDS,
        "as above: 20 photo-review-queue views per nurse per shift", 200,
    ),
)  # fmt: skip


def print_day_model(n: int, scale: float) -> None:
    print(f"\n== Day model: {n:,} participants, {_sites(n)} sites, {_nurses(n)} nurses; peak = 20:00-22:00 local")
    print(f"{'class':<19} {'request':<30} {'per day':>8} {'in peak':>7} {'peak /s':>8} {'x' + f'{scale:g}':>7}")
    total = 0.0
    for c in DAY_MODEL:
        rate = c.peak_rate(n)
        total += rate
        window = "shift" if c.peak_seconds != PEAK_SECONDS else f"{c.peak_share:.0%}"
        print(
            f"{c.name:<19} {c.method + ' ' + c.path:<30} {c.per_day(n):>8,.0f} {window:>7} {rate:>8.3f} "
            f"{rate * scale:>7.2f}"
        )
        print(f"{'':<19} {c.model}")
    print(f"{'all':<19} {'':<30} {'':>8} {'':>7} {total:>8.3f} {total * scale:>7.2f}")


# --- requests ----------------------------------------------------------------------------


def build_request(method: str, path: str, body: bytes, headers: dict[str, str], content_type: str) -> bytes:
    lines = [
        f"{method} {API}{path} HTTP/1.1",
        f"Host: {HOST}",
        "Connection: close",
        f"Content-Length: {len(body)}",
        *([f"Content-Type: {content_type}"] if body else []),
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass(frozen=True)
class Photo:
    data: bytes
    seed: tuple[float, float]
    size: tuple[int, int]
    quality: int


def phone_photos(size: tuple[int, int], count: int, quality: int) -> list[Photo]:
    """Synthetic phone JPEGs with the blue marker beside an ulcer, cached in the temp directory."""
    cache = Path(tempfile.gettempdir()) / f"limbtrack-realistic-day-photos-{size[0]}x{size[1]}-q{quality}"
    cache.mkdir(exist_ok=True)
    photos = []
    for k in range(count):
        jpeg, meta = cache / f"{k}.jpg", cache / f"{k}.json"
        if not (jpeg.exists() and meta.exists()):
            t0 = time.perf_counter()
            synth = ulcer_synth.render(ulcer_synth.image_seed(17, k), size=size, with_marker=True)
            ulcer_synth.save(synth, jpeg.with_suffix(".tmp"), quality=quality)
            meta.write_text(json.dumps({"seed": list(synth.seed_px)}))
            jpeg.with_suffix(".tmp").rename(jpeg)
            log(f"rendered photo {k + 1}/{count} ({size[0]}x{size[1]}) in {time.perf_counter() - t0:.1f}s")
        seed = json.loads(meta.read_text())["seed"]
        photos.append(Photo(jpeg.read_bytes(), (float(seed[0]), float(seed[1])), size, quality))
    return photos


def _unique_jpeg(data: bytes, tag: str) -> bytes:
    """The same pixels with a JPEG comment (COM) after SOI, so that no two uploads have the
    same bytes (the server strips it with the rest of the metadata)."""
    payload = tag.encode()
    return data[:2] + b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload + data[2:]


def multipart(fields: dict[str, str], file_field: str, file_name: str, file_data: bytes) -> tuple[bytes, str]:
    boundary = f"----limbtrack{uuid.uuid4().hex}"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{file_name}"\r\n'
        "Content-Type: image/jpeg\r\n\r\n".encode()
        + file_data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Requests:
    """Request bytes for request number i of each class. Diary, walk, photo and sync
    requests each go to a participant of their own (a first score of the day, a new walk,
    ...), in a shuffled order; reads go to anyone."""

    def __init__(self, cohort: realistic_seed.Cohort, nurse_tokens: list[str], photos: list[Photo]) -> None:
        rng = random.Random(20261207)  # noqa: S311 (test data)
        everyone = list(cohort.patients)
        self.diary = rng.sample(everyone, len(everyone))
        self.walk = rng.sample(everyone, len(everyone))
        with_ulcer = [p for p in everyone if p.ulcer_id is not None]
        self.photo = rng.sample(with_ulcer, len(with_ulcer))
        offline = [p for p in everyone if p.offline]
        self.sync = rng.sample(offline, len(offline))
        self.symptom = rng.sample(everyone, len(everyone))
        self.nurse_tokens = nurse_tokens
        self.photos = photos
        if not (self.photo and self.sync and nurse_tokens):
            raise SystemExit("the cohort has no ulcers, offline participants or nurses: use more participants")
        self.build: dict[str, Callable[[int], bytes]] = {
            "diary": self._diary,
            "tasks": lambda i: self._get(everyone[(i * 7919) % len(everyone)], "/me/tasks"),
            "summary": lambda i: self._get(everyone[(i * 104729) % len(everyone)], "/me/summary"),
            "walk": self._walk,
            "photo": self._photo,
            "symptom": self._symptom,
            "sync": self._sync,
            "nurse participants": lambda i: self._nurse(i, "/participants?page=1&page_size=25"),
            "nurse flags": lambda i: self._nurse(i, "/flags?page=1&page_size=25"),
            "nurse review": lambda i: self._nurse(i, "/review/photos?page=1&page_size=25"),
        }

    @staticmethod
    def _auth(patient: realistic_seed.Patient) -> dict[str, str]:
        return {"Authorization": f"Bearer {patient.token}"}

    @staticmethod
    def _json(patient: realistic_seed.Patient, path: str, body: dict[str, Any]) -> bytes:
        return build_request("POST", path, json.dumps(body).encode(), Requests._auth(patient), "application/json")

    def _get(self, patient: realistic_seed.Patient, path: str) -> bytes:
        return build_request("GET", path, b"", self._auth(patient), "")

    def _nurse(self, i: int, path: str) -> bytes:
        token = self.nurse_tokens[i % len(self.nurse_tokens)]
        return build_request("GET", path, b"", {"Authorization": f"Bearer {token}"}, "")

    @staticmethod
    def _now(patient: realistic_seed.Patient, minutes_ago: float = 0.0) -> str:
        at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
        return at.astimezone(patient.zone).isoformat(timespec="milliseconds")

    def _diary(self, i: int) -> bytes:
        patient = self.diary[i % len(self.diary)]
        body = {"client_uuid": str(uuid.uuid4()), "recorded_at": self._now(patient, 0.2), "score": 3 + i % 6}
        return self._json(patient, "/me/pain-scores", body)

    @staticmethod
    def _walk_body(recorded_at: str, i: int) -> dict[str, Any]:
        distance = 200 + (i * 37) % 250
        return {
            "client_uuid": str(uuid.uuid4()),
            "recorded_at": recorded_at,
            "method": "phone_gps",
            "distance_m": float(distance),
            "duration_s": 360,
            "step_count": round(distance / 0.7),
            "borg_dyspnoea_before": 1,
            "borg_dyspnoea_after": 3,
        }

    def _walk(self, i: int) -> bytes:
        patient = self.walk[i % len(self.walk)]
        return self._json(patient, "/me/walk-tests", self._walk_body(self._now(patient, 7), i))

    def _symptom(self, i: int) -> bytes:
        patient = self.symptom[i % len(self.symptom)]
        today = datetime.now(UTC).astimezone(patient.zone).date()
        body = {
            "client_uuid": str(uuid.uuid4()),
            "recorded_at": self._now(patient, 1),
            "category": ("swelling", "leg_pain_new_or_worse", "other")[i % 3],
            "severity": ("mild", "moderate")[i % 2],
            "onset_date": today.isoformat(),
            "description": "since this afternoon",
        }
        return self._json(patient, "/me/symptoms", body)

    def _sync(self, i: int) -> bytes:
        """The last OFFLINE_DAYS evenings' scores (late entries) and a walk of two days ago."""
        patient = self.sync[i % len(self.sync)]
        items: list[dict[str, Any]] = []
        for days_ago in range(realistic_seed.OFFLINE_DAYS, 0, -1):
            recorded = self._now(patient, days_ago * 1440 + 30)
            items.append(
                {
                    "kind": "pain_score",
                    "data": {"client_uuid": str(uuid.uuid4()), "recorded_at": recorded, "score": 4 + days_ago},
                }
            )
        items.append({"kind": "walk_test", "data": self._walk_body(self._now(patient, 2 * 1440 + 120), i)})
        return self._json(patient, "/me/sync", {"items": items})

    def _photo(self, i: int) -> bytes:
        patient = self.photo[i % len(self.photo)]
        photo = self.photos[i % len(self.photos)]
        fields = {
            "client_uuid": str(uuid.uuid4()),
            "recorded_at": self._now(patient, 0.5),
            "seed_x": f"{photo.seed[0]:.1f}",
            "seed_y": f"{photo.seed[1]:.1f}",
        }
        body, content_type = multipart(fields, "image", "IMG_0001.jpg", _unique_jpeg(photo.data, f"bench {i}"))
        return build_request("POST", f"/me/ulcers/{patient.ulcer_id}/photos", body, self._auth(patient), content_type)


# --- the open loop -----------------------------------------------------------------------


@dataclass
class ClassResult:
    name: str
    offered: int
    result: loadgen.Result

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.result.statuses.items() if status >= 500)


def schedule(rates: dict[str, float], duration_s: float, arrivals: str, rng: random.Random) -> list[tuple[float, str]]:
    """(due offset in seconds, class) of every request of the phase, in time order."""
    due: list[tuple[float, str]] = []
    for name, rate in rates.items():
        if rate <= 0:
            continue
        if arrivals == "poisson":
            t = rng.expovariate(rate)
            while t < duration_s:
                due.append((t, name))
                t += rng.expovariate(rate)
        else:
            phase = rng.random() / rate
            due.extend((phase + k / rate, name) for k in range(int(rate * duration_s)) if phase + k / rate < duration_s)
    due.sort()
    return due


def open_loop(
    address: loadgen.Address,
    requests: Requests,
    plan: list[tuple[float, str]],
    first_index: dict[str, int],
    *,
    max_in_flight: int,
    timeout_s: float,
) -> tuple[dict[str, ClassResult], float, float]:
    """Send every planned request when it is due, whatever the server does; latency counts
    from when it was due. Returns the results per class, the elapsed time and this
    process's CPU seconds."""
    expect = {c.name: c.expect for c in DAY_MODEL}
    recorders = {name: loadgen._Recorder(expect[name]) for name in {name for _, name in plan}}
    offered = Counter(name for _, name in plan)
    work: queue.Queue[tuple[str, int, float] | None] = queue.Queue()

    def worker() -> None:
        while (item := work.get()) is not None:
            name, index, due = item
            recorders[name].run_one(address, requests.build[name](index), due, timeout_s)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max_in_flight)]
    for thread in threads:
        thread.start()
    counters = dict(first_index)
    cpu0, start = time.process_time(), time.perf_counter()
    for offset, name in plan:
        due = start + offset
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        index = counters.get(name, 0)
        counters[name] = index + 1
        work.put((name, index, due))
    for _ in threads:
        work.put(None)
    for thread in threads:
        thread.join(timeout_s + 10)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    first_index.update(counters)
    results = {
        name: ClassResult(name, offered[name], recorder.result(name, "open", elapsed, 0.0))
        for name, recorder in recorders.items()
    }
    return results, elapsed, cpu


# --- measurements from /proc ------------------------------------------------------------


def worker_memory(server: Server) -> list[tuple[int, int, int]]:
    """(pid, VmHWM kB, VmRSS kB) of each gunicorn worker (the master's children)."""
    rows = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text().rpartition(")")[2].split()
            if int(stat[1]) != server.process.pid:
                continue
            status = dict(line.split(":", 1) for line in (entry / "status").read_text().splitlines() if ":" in line)
            rows.append((int(entry.name), int(status["VmHWM"].split()[0]), int(status["VmRSS"].split()[0])))
    return sorted(rows)


def cpu_now(server: Server, database_url: str) -> dict[str, dict[int, float]]:
    """CPU seconds so far of the gunicorn master and workers, and of the PostgreSQL backends
    connected to the run's database (not the rest of a PostgreSQL others share)."""
    with psycopg.connect(database_url) as connection:
        pids = [
            row[0]
            for row in connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ]
    postgres = {pid: stat[1] for pid in pids if (stat := _proc_stat(pid)) is not None}
    return {"server": cpu_snapshot(server)["server"], "postgres": postgres}


@dataclass(frozen=True)
class Cost:
    server_ms: float
    postgres_ms: float
    wall_ms: float


def serial_costs(
    server: Server, database_url: str, requests: Requests, counters: dict[str, int], oks: Counter[str]
) -> dict[str, Cost]:
    """Each class alone, one request at a time: CPU and wall time per request."""
    costs = {}
    for c in DAY_MODEL:
        count = 3 if c.photo else 20
        before = cpu_now(server, database_url)
        results, elapsed, _ = open_loop(
            server.address, requests, [(0.0, c.name)] * count, counters, max_in_flight=1, timeout_s=30
        )
        delta = cpu_delta(before, cpu_now(server, database_url))
        oks.update({name: r.result.ok for name, r in results.items()})
        costs[c.name] = Cost(delta["server"] * 1000 / count, delta["postgres"] * 1000 / count, elapsed * 1000 / count)
    return costs


def print_costs(costs: dict[str, Cost], rates: dict[str, float]) -> None:
    print()
    print("== Cost per request, each class alone, one request at a time (20 each, 3 photos; CPU ticks are 10 ms)")
    print(f"{'class':<19} {'wall ms':>8} {'server CPU ms':>13} {'PG CPU ms':>9} {'cores at the offered rate':>26}")
    cores = 0.0
    for name, cost in costs.items():
        need = rates[name] * (cost.server_ms + cost.postgres_ms) / 1000
        cores += need
        print(f"{name:<19} {cost.wall_ms:>8.1f} {cost.server_ms:>13.1f} {cost.postgres_ms:>9.1f} {need:>26.2f}")
    print(f"{'all':<19} {'':>8} {'':>13} {'':>9} {cores:>26.2f}")


def new_rows(database_url: str, since: datetime) -> tuple[dict[str, int], dict[str, int]]:
    """Rows received since `since` per table, and the analysis statuses of the new photos."""
    with psycopg.connect(database_url) as connection:
        rows = {
            table: connection.execute(
                f"SELECT count(*) FROM {table} WHERE received_at >= %s",  # noqa: S608 (fixed names)
                (since,),
            ).fetchone()[0]  # type: ignore[index]
            for table in ("pain_score", "walk_test", "ulcer_photo", "symptom_report")
        }
        statuses = connection.execute(
            "SELECT a.status, count(*) FROM photo_analysis a JOIN ulcer_photo p ON p.id = a.photo_id "
            "WHERE p.received_at >= %s GROUP BY a.status ORDER BY a.status",
            (since,),
        ).fetchall()
    return rows, {str(status): count for status, count in statuses}


# --- report ------------------------------------------------------------------------------


def fmt_ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def report(
    results: dict[str, ClassResult],
    duration_s: float,
    elapsed: float,
    cpu: dict[str, float],
    client_cpu: float,
    other_cpu: float,
    memory: list[tuple[int, int, int]],
    args: argparse.Namespace,
) -> bool:
    print()
    print(
        f"== Results: {args.participants:,} participants, {args.scale:g} x the evening peak, {args.arrivals} arrivals, "
        f"{duration_s:g}s (drained in {elapsed:.1f}s); gunicorn -w 2 (sync workers), PostgreSQL on loopback"
    )
    header = (
        f"{'class':<19} {'offered':>7} {'ok':>6} {'errors':>6} {'5xx':>4} {'offered/s':>9} {'achieved/s':>10} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7}  goal"
    )
    print(header)
    print("-" * len(header))
    ok_all = True
    json_latencies: list[float] = []
    for c in DAY_MODEL:
        if c.name not in results:
            continue
        r = results[c.name].result
        goal = PHOTO_P99_GOAL_MS if c.photo else JSON_P99_GOAL_MS
        if not c.photo:
            json_latencies.extend(r.latencies_ms)
        met = r.errors == 0 and r.ok > 0 and r.percentile(99) <= goal
        ok_all = ok_all and met
        print(
            f"{c.name:<19} {results[c.name].offered:>7} {r.ok:>6} {r.errors:>6} {results[c.name].server_errors:>4} "
            f"{results[c.name].offered / duration_s:>9.2f} {r.ok / elapsed:>10.2f} {fmt_ms(r.percentile(50)):>7} "
            f"{fmt_ms(r.percentile(95)):>7} {fmt_ms(r.percentile(99)):>7} {fmt_ms(r.percentile(100)):>7}  "
            f"p99 <= {goal:.0f}: {'MET' if met else 'NOT MET'}"
        )
    total_ok = sum(r.result.ok for r in results.values())
    total_offered = sum(r.offered for r in results.values())
    errors = sum(r.result.errors for r in results.values())
    server_errors = sum(r.server_errors for r in results.values())
    everything = loadgen.Result("json", "open", elapsed, json_latencies)
    print("-" * len(header))
    print(
        f"{'all JSON classes':<19} {'':>7} {len(json_latencies):>6} {'':>6} {'':>4} {'':>9} {'':>10} "
        f"{fmt_ms(everything.percentile(50)):>7} {fmt_ms(everything.percentile(95)):>7} "
        f"{fmt_ms(everything.percentile(99)):>7} {fmt_ms(everything.percentile(100)):>7}"
    )
    print(
        f"{'all':<19} {total_offered:>7} {total_ok:>6} {errors:>6} {server_errors:>4} "
        f"{total_offered / duration_s:>9.2f} {total_ok / elapsed:>10.2f}"
    )
    print(
        "offered/s = requests planned / the load's duration; achieved/s = answered as expected / time to the last "
        "answer; latency counts from when a request was due (queueing in the client included); errors = anything "
        "but the expected status, or no answer"
    )
    missing = [c.name for c in DAY_MODEL if c.name not in results]
    if missing:
        ok_all = False
        print(f"no request in the measured phase (too short for their rate; goals not judged): {', '.join(missing)}")
    for name, result in results.items():
        if result.result.errors:
            r = result.result
            print(f"  {name}: statuses {dict(r.statuses)}, exceptions {dict(r.exceptions)}; first: {r.first_error}")
    print()
    done = max(total_ok, 1)
    print(
        f"CPU per request (all classes, {total_ok} answered as expected): "
        f"server {cpu['server'] * 1000 / done:.2f} ms + PostgreSQL {cpu['postgres'] * 1000 / done:.2f} ms "
        f"= {(cpu['server'] + cpu['postgres']) * 1000 / done:.2f} ms"
    )
    print(
        f"Cores used over {elapsed:.1f}s: server {cpu['server'] / elapsed:.2f}, "
        f"PostgreSQL {cpu['postgres'] / elapsed:.2f}, "
        f"load generator {client_cpu / elapsed:.2f}, other processes {other_cpu / elapsed:.2f} (of 2)"
        + ("  <- the machine was busy: figures are pessimistic" if other_cpu / elapsed > NOISY_CORES else "")
    )
    for pid, hwm, rss in memory:
        print(f"gunicorn worker {pid}: peak memory (VmHWM) {hwm / 1024:.0f} MB, now (VmRSS) {rss / 1024:.0f} MB")
    photo = results.get("photo")
    photo_note = ""
    if photo is not None:
        photo_note = f"; photo: {args.photo_size[0]}x{args.photo_size[1]} JPEG q{args.photo_quality}"
    print(
        f"Goals: p99 <= {JSON_P99_GOAL_MS:.0f} ms for each JSON class, <= {PHOTO_P99_GOAL_MS:.0f} ms for photo "
        f"uploads, no errors, no 5xx{photo_note}: {'MET' if ok_all and errors == 0 else 'NOT MET'}"
    )
    return ok_all and errors == 0


# --- main --------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[realistic-day {time.strftime('%H:%M:%S')}] {message}", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--participants", type=int, default=10_000, help="participants in the study (default 10,000)")
    parser.add_argument("--scale", type=float, default=10.0, help="multiple of the evening peak's rate (default 10)")
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of measured load (default 180)")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds of warm-up at the same rates (default 10)")
    parser.add_argument("--arrivals", choices=("poisson", "constant"), default="poisson")
    parser.add_argument(
        "--photo-size",
        type=ulcer_synth.parse_size,
        default=(4000, 3000),
        help="phone photo WxH (default 4000x3000, 12 MP)",
    )
    parser.add_argument("--photo-quality", type=int, default=90, help="JPEG quality of the photos (default 90)")
    parser.add_argument("--max-in-flight", type=int, default=64, help="concurrent connections at most (default 64)")
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--reseed", action="store_true", help="seed the template database again even if usable")
    parser.add_argument("--keep-db", action="store_true", help="keep the run's database")
    parser.add_argument("--quiet-wait", type=float, default=20.0, help="seconds to wait for the machine to go quiet")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is not met")
    args = parser.parse_args(argv)
    if not args.admin_url.split("@")[-1].startswith(("127.0.0.1", "localhost", "[::1]")):
        parser.error("--admin-url must point at a PostgreSQL on loopback")
    if not (0 < args.duration <= 600 and 0 <= args.warmup <= 60 and 0 < args.scale <= 50):
        parser.error("keep it bounded: --duration <= 600 s, --warmup <= 60 s, --scale <= 50")
    if not (200 <= args.participants <= 50_000 and 1 <= args.max_in_flight <= 256 and 50 <= args.photo_quality <= 100):
        parser.error("--participants 200..50,000, --max-in-flight 1..256, --photo-quality 50..100")
    return args


def _terminate(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def nurse_logins(server: Server, emails: list[str]) -> list[str]:
    tokens = []
    for email in emails:
        body = json.dumps({"email": email, "password": realistic_seed.NURSE_PASSWORD}).encode()
        request = urllib.request.Request(  # the URL is built from HOST: loopback only
            f"http://{HOST}:{server.port}{API}/auth/staff/login",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            tokens.append(json.loads(response.read())["access_token"])
    return tokens


def run(args: argparse.Namespace, workdir: Path, database_url: str, seeded: realistic_seed.Seeded) -> int:
    cohort = realistic_seed.load_cohort(database_url, seeded)
    photos = phone_photos(args.photo_size, 3, args.photo_quality)
    log(
        f"{len(cohort.patients):,} participants ({sum(p.ulcer_id is not None for p in cohort.patients):,} with an "
        f"ulcer, {sum(p.offline for p in cohort.patients):,} offline), zone {seeded.zone}; photos "
        f"{args.photo_size[0]}x{args.photo_size[1]} q{args.photo_quality}: "
        + ", ".join(f"{len(p.data) / 1e6:.1f} MB" for p in photos)
    )
    env = server_env(workdir, database_url)
    env["SECRET_KEY"] = seeded.secret_key  # the patients' token hashes were keyed with it
    server = start_gunicorn("limbtrack", "wsgi:app", env, workdir)
    try:
        wait_ready(server, "/readyz", timeout_s=60)
        nurse_tokens = nurse_logins(server, cohort.nurse_emails)
        requests = Requests(cohort, nurse_tokens, photos)
        rates = {c.name: c.peak_rate(args.participants) * args.scale for c in DAY_MODEL}
        rng = random.Random(7)  # noqa: S311 (arrival times)
        counters: dict[str, int] = {}
        since = datetime.now(UTC) - timedelta(seconds=1)
        log("warm-up: two of each class, one after the other")
        warm = [(0.0, c.name) for c in DAY_MODEL for _ in range(2)]
        warm_results, _, _ = open_loop(server.address, requests, warm, counters, max_in_flight=1, timeout_s=30)
        failed = [f"{n}: {r.result.first_error}" for n, r in warm_results.items() if r.result.errors]
        if failed:
            print("\n".join(failed), file=sys.stderr)
            print(server.log_tail(), file=sys.stderr)
            return 2
        oks = Counter({name: r.result.ok for name, r in warm_results.items()})
        log("cost per request: each class alone, one at a time")
        print_costs(serial_costs(server, database_url, requests, counters, oks), rates)
        if args.warmup:
            log(f"warm-up: {args.warmup:g}s at the measured rates")
            plan = schedule(rates, args.warmup, args.arrivals, rng)
            warm_results, _, _ = open_loop(
                server.address, requests, plan, counters, max_in_flight=args.max_in_flight, timeout_s=30
            )
            oks.update({name: r.result.ok for name, r in warm_results.items()})
        plan = schedule(rates, args.duration, args.arrivals, rng)
        wait_for_quiet(args.quiet_wait)
        log(f"measured: {len(plan)} requests over {args.duration:g}s ({len(plan) / args.duration:.1f}/s offered)")
        before, (busy0, _) = cpu_now(server, database_url), machine_cpu()
        results, elapsed, client_cpu = open_loop(
            server.address, requests, plan, counters, max_in_flight=args.max_in_flight, timeout_s=30
        )
        cpu, (busy1, _) = cpu_delta(before, cpu_now(server, database_url)), machine_cpu()
        # Everything else the machine did: other processes, and PostgreSQL's own background work.
        other = max(0.0, (busy1 - busy0) - cpu["server"] - cpu["postgres"] - client_cpu)
        if other / elapsed > NOISY_CORES:
            log(f"other processes kept {other / elapsed:.2f} cores busy; busiest now: {busiest_processes()}")
        memory = worker_memory(server)
        pools = {"diary": requests.diary, "walk": requests.walk, "photo": requests.photo, "sync": requests.sync}
        for name, pool in pools.items():
            if counters.get(name, 0) > len(pool):
                log(f"WARNING: {counters[name]} {name} requests for {len(pool)} participants: some sent a second one")
        oks.update({name: r.result.ok for name, r in results.items()})
        goals = report(results, args.duration, elapsed, cpu, client_cpu, other, memory, args)
        if any(r.result.errors for r in results.values()):
            print(f"--- the server's log, last lines ---\n{server.log_tail(40)}")
    finally:
        server.stop()
    rows, analyses = new_rows(database_url, since)
    entries = realistic_seed.OFFLINE_DAYS
    expected = {
        "pain_score": oks["diary"] + entries * oks["sync"],
        "walk_test": oks["walk"] + oks["sync"],
        "ulcer_photo": oks["photo"],
        "symptom_report": oks["symptom"],
    }
    print(f"\nNew rows (warm-up included): {rows}; expected from the answers: {expected}: "
          f"{'match' if rows == expected else 'MISMATCH'}")  # fmt: skip
    print(f"Analysis of the new photos (status: count): {analyses or 'none'}")
    if rows != expected:
        return 2
    return 1 if args.strict and not goals else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    started = time.monotonic()
    print_day_model(args.participants, args.scale)
    print()
    with tempfile.TemporaryDirectory(prefix="limbtrack-realistic-day-") as tmp:
        workdir = Path(tmp)
        seeded = realistic_seed.ensure_template(
            args.admin_url, args.participants, _sites(args.participants), datetime.now(UTC), workdir, args.reseed
        )
        name = f"limbtrack_loadbench_run_{int(time.time())}_{os.getpid()}"
        t0 = time.perf_counter()
        database_url = realistic_seed.clone(args.admin_url, seeded, name)
        log(f"database {name} cloned from the template in {time.perf_counter() - t0:.1f}s")
        try:
            status = run(args, workdir, database_url, seeded)
        finally:
            if args.keep_db:
                log(f'kept database {name}; drop it with: DROP DATABASE "{name}" WITH (FORCE)')
            else:
                with psycopg.connect(args.admin_url, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                log(f"dropped database {name}")
    log(f"done in {time.monotonic() - started:.0f}s")
    return status


if __name__ == "__main__":
    sys.exit(main())
