"""Benchmark: the weekly trial sync (backend.trial_sync) on PostgreSQL, full and incremental.

Run from the repository root (PostgreSQL on 127.0.0.1:5432, trust auth, user postgres):

    .venv/bin/python bench/trial_sync.py                       # sizes 100, 1,000 and 5,000 participants
    .venv/bin/python bench/trial_sync.py --sizes 100,1000      # a quicker one
    .venv/bin/python bench/trial_sync.py --sizes 1000 --keep   # keep the databases to look at them

The requirement (the issue): with N participants × 180 days of diaries, weekly walk tests
and biweekly ulcer photos, the full sync grows linearly in N; an incremental run after 1 %
of the participants changed takes at most 5 % of the full sync's time; for N = 1,000 the
full sync takes at most 30 s and a run with nothing to do at most 2 s.

Per size N:
 1. two fresh databases, bench_trial_src_<N>_<pid> (the operational one, migrated) and
    bench_trial_tgt_<N>_<pid> (the trial database);
 2. the source is filled by bench/trial_sync_data.py (its docstring says what): the demo
    protocol and a nurse through the real services, then the participants' 180 days
    with COPY; VACUUM ANALYZE. "now" is the real time (two hours earlier near Tehran's
    midnight), study day 180 of everyone;
 3. in a fresh child process (so that its peak RSS is the sync's, not the generator's):
    open_target (creates the tables, not timed), then, each in its own session with
    REPEATABLE READ as `flask trial-sync run` does:
    a. full:        run_trial_sync(session, target, now, full=True)
    b. no change:   run_trial_sync(session, target, now)         (expect nothing written)
    c. the change (not timed): 1 % of the participants, through the real services at
       now + 1 min: every other one gets a staff correction of the day-170 pain score
       (correct_pain_score, a new version with another score), the others a new walk test
       today of 520 m (record_walk_test, better than any before: the M6 best changes);
    d. incremental: run_trial_sync(session, target, now + 5 min)  (same local day)
    e. full again:  run_trial_sync(session, target, now + 5 min, full=True): it must
       write nothing, and the endpoint_value table (every column but id, sync_run_id and
       updated_at, md5 over the rows in key order) must be the same before and after it:
       the incremental run left what a full run derives;
    f. week later (information, no goal; --no-week-later skips it): run_trial_sync at
       now + 5 min + 7 days with no new records: what the weekly cron meets, where every
       participant whose visit windows opened, closed or grew a day is derived again;
    per run: wall time, the child's CPU, PostgreSQL's CPU, other processes' cores, the
    child's peak RSS during the run (VmHWM, reset before each run) and the report's counts;
 4. the databases are dropped (also on Ctrl-C and SIGTERM) unless --keep.
Then the table, the linearity (seconds per 1,000 participants) and the goals.

Exit status: 0 when every run was valid (whatever the goals), 2 when a check failed,
1 with --strict when a goal is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FULL_GOAL_S = 30.0
NO_CHANGE_GOAL_S = 2.0
INCREMENTAL_GOAL = 0.05  # of the full sync's time
GOAL_N = 1000
CHANGE_SHARE = 0.01
CHANGE_AT = timedelta(minutes=1)
INCREMENTAL_AT = timedelta(minutes=5)
PAIN_DAY_CORRECTED = 170  # in M6's window (166-194): the M6 mean, change and responder move
NEW_WALK_M = 520.0  # more than any generated walk (<= 500 m): the M6 best moves
CHILD_TIMEOUT_S = 1800.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MIN_SHARE_WALL_S = 0.5  # shorter runs get no "others" figure
WEEK_LATER = timedelta(days=7)
STEPS = ("full", "no change", "incremental", "full again")
ALL_STEPS = (*STEPS, "week later")  # the last one: information, no goal


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- CPU and memory ----------------------------------------------------------------------------


def machine_cpu() -> float:
    """Busy CPU seconds of the whole machine so far, all cores (/proc/stat)."""
    fields_ = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields_[:8]) - fields_[3] - fields_[4]) / CLOCK_TICKS


def postgres_cpu() -> float:
    from bench.reminders_dispatch import postgres_cpu as pg

    return pg()


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def rss_mb(key: str = "VmHWM") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


# --- databases ---------------------------------------------------------------------------------


@contextlib.contextmanager
def bench_database(admin_url: str, kind: str, n: int, keep: bool) -> Iterator[str]:
    """A fresh database bench_trial_<kind>_<N>_<pid>, dropped (with FORCE) on the way out."""
    import psycopg

    name = f"bench_trial_{kind}_{n}_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # a leftover of a killed run of this pid
        admin.execute(f'CREATE DATABASE "{name}"')
    log(f"created database {name}")
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        if keep:
            log(f'kept database {name} (--keep); drop it with: DROP DATABASE "{name}" WITH (FORCE)')
        else:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            log(f"dropped database {name}")


# --- the measuring child -----------------------------------------------------------------------


def _snapshot(target: Any) -> tuple[int, str]:
    """(rows, md5) of endpoint_value without id, sync_run_id and updated_at, in key order."""
    from sqlalchemy import text

    columns = (
        "study_code, subject_code, visit_code, endpoint_code, ulcer_label, family, value, unit, n, "
        "window_start_day, window_end_day, window_start_date, window_end_date, rule, rule_version, "
        "source_ids, status, missing_reason"
    )
    sql = (
        f"SELECT count(*), md5(coalesce(string_agg(row({columns})::text, E'\\n' "  # noqa: S608 (fixed text)
        "ORDER BY study_code, subject_code, visit_code, endpoint_code, ulcer_label), '')) FROM endpoint_value"
    )
    with target.connect() as conn:
        count, digest = conn.execute(text(sql)).one()
    return int(count), str(digest)


def _by_family(target: Any) -> dict[str, int]:
    from sqlalchemy import text

    sql = "SELECT family, status, count(*) FROM endpoint_value GROUP BY 1, 2 ORDER BY 1, 2"
    with target.connect() as conn:
        return {f"{family}/{status}": int(count) for family, status, count in conn.execute(text(sql))}


def _make_changes(database: Any, spec: dict[str, Any], at: datetime) -> dict[str, Any]:
    """1 % of the participants change through the real services (see the module docstring)."""
    from uuid import uuid4
    from zoneinfo import ZoneInfo

    from sqlalchemy import select

    from backend.auth.service import staff_actor
    from backend.core.actor import Actor
    from backend.diary.models import PainScore
    from backend.diary.schemas import StaffPainScoreCorrectionSchema
    from backend.diary.service import correct_pain_score
    from backend.participants.models import Participant
    from backend.staff.models import StaffUser
    from backend.walks.schemas import WalkTestCreateSchema
    from backend.walks.service import record_walk_test

    ids: list[int] = spec["participant_ids"]
    n = len(ids)
    k = max(1, round(n * CHANGE_SHARE))
    chosen = [ids[j * n // k] for j in range(k)]
    corrections = walks = 0
    started = time.perf_counter()
    with database.session_scope() as session:
        nurse = session.get(StaffUser, spec["staff_id"])
        assert nurse is not None
        nurse_actor = staff_actor(nurse, "bench-trial-sync")
        for j, pid in enumerate(chosen):
            participant = session.get(Participant, pid)
            assert participant is not None and participant.day0_date is not None
            if j % 2 == 0:
                day = participant.day0_date + timedelta(days=PAIN_DAY_CORRECTED)
                original = session.scalars(
                    select(PainScore).where(
                        PainScore.participant_id == pid, PainScore.diary_date == day, PainScore.superseded_at.is_(None)
                    )
                ).one()
                data = StaffPainScoreCorrectionSchema().load(
                    {
                        "client_uuid": str(uuid4()),
                        "score": (original.score + 3) % 11,
                        "reason": "Benchmark: transcribed from the paper diary",
                    }
                )
                _, created = correct_pain_score(session, nurse_actor, pid, original.id, data, at)
                corrections += int(created)
            else:
                actor = Actor(
                    kind="participant",
                    id=pid,
                    role="patient",
                    study_id=participant.study_id,
                    site_ids=frozenset({participant.site_id}),
                    participant_id=pid,
                    request_id="bench-trial-sync",
                )
                recorded = (at - timedelta(minutes=6)).astimezone(ZoneInfo(participant.timezone))
                data = WalkTestCreateSchema().load(
                    {
                        "client_uuid": str(uuid4()),
                        "recorded_at": recorded.isoformat(),
                        "method": "phone_gps",
                        "distance_m": NEW_WALK_M,
                    }
                )
                _, created = record_walk_test(session, actor, data, at)
                walks += int(created)
    return {
        "participants": k,
        "pain_corrections": corrections,
        "walk_tests": walks,
        "seconds": time.perf_counter() - started,
    }


def _child_measure(spec_path: Path, report_path: Path) -> int:
    t_import = time.perf_counter()
    from backend.core.timeutil import utcnow  # noqa: F401  (the imports a sync needs, before the baseline)
    from backend.db import Database, make_engine
    from backend.trial_sync.service import run_trial_sync
    from backend.trial_sync.target import SqlTrialTarget, open_target

    spec = json.loads(spec_path.read_text())
    now = datetime.fromisoformat(spec["now"])
    now2 = now + INCREMENTAL_AT
    report: dict[str, Any] = {"imports_s": time.perf_counter() - t_import, "runs": {}}
    database = Database(make_engine(spec["source_url"]))
    t0 = time.perf_counter()
    target = open_target(spec["target_url"])
    report["open_target_s"] = time.perf_counter() - t0
    report["baseline_rss_mb"] = rss_mb("VmRSS")
    report["rss_reset"] = True

    def run(label: str, at: datetime, full: bool) -> Any:
        with database.session_scope() as session:
            rss_before = rss_mb("VmRSS")
            report["rss_reset"] = reset_peak_rss() and report["rss_reset"]
            pg0, busy0, own0 = postgres_cpu(), machine_cpu(), time.process_time()
            started = time.perf_counter()
            result = run_trial_sync(session, SqlTrialTarget(target), at, full=full)
            wall = time.perf_counter() - started
            own = time.process_time() - own0
            pg = postgres_cpu() - pg0
            others = max(0.0, machine_cpu() - busy0 - own - pg)
            peak = rss_mb("VmHWM")
        report["runs"][label] = {
            "wall_s": wall,
            "cpu_s": own,
            "pg_cpu_s": pg,
            # CPU counters tick every 10 ms: a share over a shorter run means nothing.
            "others_cores": others / wall if wall >= MIN_SHARE_WALL_S else None,
            "rss_before_mb": rss_before,
            "peak_rss_mb": peak,
            "mode": result.mode,
            "run_id": result.run_id,
            "participants": result.participants,
            "inserted": result.inserted,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "skipped": result.skipped,
            "missing": result.missing,
            "removed": result.removed,
            "text": str(result),
        }
        log(f"  {label}: {wall:.2f}s, {result}")
        return result

    run("full", now, True)
    report["after_full"] = _snapshot(target)
    report["by_family"] = _by_family(target)
    log("  endpoint rows by family and status: " + ", ".join(f"{k} {v}" for k, v in report["by_family"].items()))
    run("no change", now, False)
    report["change"] = _make_changes(database, spec, now + CHANGE_AT)
    log(
        f"  changed {report['change']['participants']} participant(s) at now + {CHANGE_AT}: "
        f"{report['change']['pain_corrections']} pain correction(s), {report['change']['walk_tests']} new walk "
        f"test(s) ({report['change']['seconds']:.2f}s through the services)"
    )
    run("incremental", now2, False)
    report["after_incremental"] = _snapshot(target)
    run("full again", now2, True)
    report["after_full_again"] = _snapshot(target)
    if spec.get("week_later", True):
        # What the weekly cron meets: nothing new, but a week of open windows moved on.
        run("week later", now2 + WEEK_LATER, False)
    report_path.write_text(json.dumps(report))
    target.dispose()
    database.engine.dispose()
    return 0


# --- the parent --------------------------------------------------------------------------------


@dataclass
class SizeResult:
    n: int
    rows: int
    counts: dict[str, int]
    gen_s: float
    gen_detail: dict[str, float]
    now: datetime
    report: dict[str, Any]
    child_wall_s: float
    child_maxrss_mb: float
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    def run(self, label: str) -> dict[str, Any]:
        return self.report["runs"][label]  # type: ignore[no-any-return]

    @property
    def valid(self) -> bool:
        return all(ok for _, ok, _ in self.checks)


def run_child(spec: dict[str, Any], workdir: Path, n: int) -> tuple[dict[str, Any], float, float]:
    spec_path, report_path = workdir / f"spec_{n}.json", workdir / f"report_{n}.json"
    spec_path.write_text(json.dumps(spec))
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "measure",
        "--spec",
        str(spec_path),
        "--report",
        str(report_path),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIMBTRACK_", "DATABASE_URL", "FLASK_"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    from bench.pain_scores import _die_with_parent

    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 (this file, fixed arguments)
        command, env=env, cwd=ROOT, preexec_fn=_die_with_parent
    )
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    try:
        while True:  # bounded by the deadline
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.05)
    except BaseException:
        process.kill()
        process.wait(10)
        raise
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0 or not report_path.exists():
        raise RuntimeError(f"the measuring child exited with {code}")
    return json.loads(report_path.read_text()), wall, usage.ru_maxrss / 1024.0


def measure_size(n: int, args: argparse.Namespace, workdir: Path) -> SizeResult:
    from backend.core.timeutil import utcnow
    from bench.trial_sync_data import check_counts, check_read_paths, choose_now, generate

    with (
        bench_database(args.admin_url, "src", n, args.keep) as source_url,
        bench_database(args.admin_url, "tgt", n, args.keep) as target_url,
    ):
        now = choose_now(utcnow())
        log(f"N={n}: generating 180 days for {n} participants (now = {now:%Y-%m-%d %H:%M}Z, study day 180)")
        started = time.perf_counter()
        dataset = generate(source_url, n, now)
        gen_s = time.perf_counter() - started
        detail = ", ".join(f"{k} {v:.1f}s" for k, v in dataset.seconds.items() if k != "total")
        log(f"  {dataset.rows} rows in {gen_s:.1f}s ({dataset.rows / gen_s:,.0f} rows/s; {detail})")
        checks: list[tuple[str, bool, str]] = []
        ok, text = check_counts(source_url, dataset)
        checks.append(("source rows", ok, text))
        log(f"  source rows: {text} ({'ok' if ok else 'WRONG'})")
        if not args.no_read_check:
            ok, text = check_read_paths(source_url, target_url, dataset, str(workdir))
            checks.append(("read paths", ok, text))
            log(f"  read paths: {text} ({'ok' if ok else 'WRONG'})")
        spec = {
            "source_url": source_url,
            "target_url": target_url,
            "now": now.isoformat(),
            "staff_id": dataset.staff_id,
            "participant_ids": dataset.participant_ids,
            "week_later": not args.no_week_later,
        }
        if args.quiet_wait > 0:
            from bench.pain_scores import wait_for_quiet

            wait_for_quiet(args.quiet_wait)
        log("  measuring in a child process (full, no change, 1 % change, incremental, full again)")
        report, child_wall, child_rss = run_child(spec, workdir, n)
        result = SizeResult(n, dataset.rows, dataset.counts, gen_s, dataset.seconds, now, report, child_wall, child_rss)
        result.checks = checks + _checks(result)
        for name, ok, text in result.checks[len(checks) :]:
            log(f"  {name}: {text} ({'ok' if ok else 'WRONG'})")
        return result


def _checks(result: SizeResult) -> list[tuple[str, bool, str]]:
    full, none, inc, again = (result.run(s) for s in STEPS)
    change = result.report["change"]
    out = []
    out.append(
        (
            "full sync",
            full["run_id"] is not None and full["inserted"] > 0 and full["participants"] == result.n,
            f"{full['participants']} participants, {full['inserted']} rows inserted",
        )
    )
    writes = none["inserted"] + none["updated"] + none["removed"]
    out.append(
        (
            "no-change run",
            writes == 0 and none["run_id"] is None,
            f"{none['participants']} participants derived, {writes} rows written",
        )
    )
    changed = change["pain_corrections"] + change["walk_tests"]
    inc_writes = inc["inserted"] + inc["updated"] + inc["removed"]
    out.append(
        (
            "incremental run",
            changed == change["participants"] and inc_writes > 0 and inc["participants"] >= change["participants"],
            f"{inc['participants']} participants derived for {change['participants']} changed, "
            f"{inc['inserted']} inserted, {inc['updated']} updated, {inc['removed']} removed",
        )
    )
    same = result.report["after_incremental"] == result.report["after_full_again"]
    again_writes = again["inserted"] + again["updated"] + again["removed"]
    out.append(
        (
            "incremental = full",
            same and again_writes == 0,
            f"{'yes' if same else 'NO'}: endpoint_value after the incremental run {result.report['after_incremental']} "
            f"and after a full run at the same instant {result.report['after_full_again']}; the full run wrote "
            f"{again_writes} rows",
        )
    )
    return out


def print_results(results: list[SizeResult]) -> None:
    print()
    print("== Trial sync on PostgreSQL: N participants x 180 days (diary daily, walk weekly, photo biweekly)")
    print(
        f"  {'N':>5} {'rows generated':>14} {'gen s':>6}  {'full s':>7} {'rows written':>12}  {'no-change s':>11}  "
        f"{'incremental s':>13} {'(% of full)':>11}  {'peak RSS MB':>11}  {'agree':>5}"
    )
    for r in results:
        full, none, inc = r.run("full"), r.run("no change"), r.run("incremental")
        written = full["inserted"] + full["updated"] + full["removed"]
        peak = max(r.run(s)["peak_rss_mb"] for s in STEPS)
        agree = r.report["after_incremental"] == r.report["after_full_again"]
        print(
            f"  {r.n:>5} {r.rows:>14,} {r.gen_s:>6.1f}  {full['wall_s']:>7.2f} {written:>12,}  "
            f"{none['wall_s']:>11.2f}  {inc['wall_s']:>13.2f} {inc['wall_s'] / full['wall_s']:>10.1%}  "
            f"{peak:>11.1f}  {'yes' if agree else 'NO':>5}"
        )
    print("  rows generated: participant + pain_score + walk_test + ulcer + ulcer_photo + photo_review + ulcer_closure")
    print("  peak RSS: the measuring child's VmHWM during the runs (reset before each; imports and engines included)")
    print()
    print("== Per run: wall s, CPU s of the sync process and of PostgreSQL, other processes' cores, peak RSS MB")
    print(
        f"  {'N':>5} {'run':<12} {'wall s':>7} {'cpu s':>6} {'PG s':>6} {'others':>6} {'peak RSS':>8} {'(before)':>8}  "
        f"{'participants':>12} {'ins':>7} {'upd':>5} {'unch':>7} {'rem':>4} {'miss':>6}"
    )
    for r in results:
        for step in ALL_STEPS:
            if step not in r.report["runs"]:
                continue
            x = r.run(step)
            others = "-" if x["others_cores"] is None else f"{x['others_cores']:.2f}"
            print(
                f"  {r.n:>5} {step:<12} {x['wall_s']:>7.2f} {x['cpu_s']:>6.2f} {x['pg_cpu_s']:>6.2f} "
                f"{others:>6} {x['peak_rss_mb']:>8.1f} {x['rss_before_mb']:>8.1f}  "
                f"{x['participants']:>12} {x['inserted']:>7} {x['updated']:>5} {x['unchanged']:>7} "
                f"{x['removed']:>4} {x['missing']:>6}"
            )
    if any((x["others_cores"] or 0.0) > 0.3 for r in results for x in r.report["runs"].values()):
        print("  WARNING: other processes took > 0.3 cores during a run ('others'): its figures are pessimistic")
    print(f"  others: cores other processes kept busy during the run (2 cores here); '-': under {MIN_SHARE_WALL_S} s")
    print("  (before): the child's RSS when the run started")
    if any("week later" in r.report["runs"] for r in results):
        print(
            f"  week later: an incremental run at now + 5 min + {WEEK_LATER.days} days with no new records (no goal):"
        )
        print("    the participants whose visit windows opened, closed or grew a day are derived again")
    if not all(r.report.get("rss_reset", True) for r in results):
        print("  (/proc/self/clear_refs was not writable: peak RSS is the child's peak so far, not per run)")
    print()
    print("== Linearity of the full sync (seconds per 1,000 participants; flat = linear)")
    base = results[0]
    for r in results:
        per = r.run("full")["wall_s"] / r.n * 1000
        rel = per / (base.run("full")["wall_s"] / base.n * 1000)
        print(f"  N {r.n:>5}: {r.run('full')['wall_s']:7.2f} s full, {per:6.2f} s per 1,000 ({rel:4.2f}x N={base.n})")


def print_goals(results: list[SizeResult]) -> bool:
    print()
    print("== Goals")
    met = True
    for r in results:
        full, inc = r.run("full")["wall_s"], r.run("incremental")["wall_s"]
        ok = inc <= INCREMENTAL_GOAL * full
        met = met and ok
        print(
            f"  N {r.n:>5}: incremental after 1 % changed {inc:.2f}s = {inc / full:.1%} of the full sync "
            f"(goal <= {INCREMENTAL_GOAL:.0%}): {'met' if ok else 'NOT met'}"
        )
    headline = next((r for r in results if r.n == GOAL_N), None)
    if headline is None:
        print(f"  (no N = {GOAL_N} in this run: the absolute goals are for N = {GOAL_N})")
        return met
    full, none = headline.run("full")["wall_s"], headline.run("no change")["wall_s"]
    ok_full, ok_none = full <= FULL_GOAL_S, none <= NO_CHANGE_GOAL_S
    print(f"  N {GOAL_N}: full sync {full:.2f}s (goal <= {FULL_GOAL_S:.0f} s): {'met' if ok_full else 'NOT met'}")
    print(
        f"  N {GOAL_N}: no-change run {none:.2f}s (goal <= {NO_CHANGE_GOAL_S:.0f} s): {'met' if ok_none else 'NOT met'}"
    )
    return met and ok_full and ok_none


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--admin-url",
        "--database-url",
        dest="admin_url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL to create the benchmark databases on (loopback only)",
    )
    parser.add_argument("--sizes", default="100,1000,5000", help="comma-separated N (default 100,1000,5000)")
    parser.add_argument("--keep", "--keep-db", dest="keep", action="store_true", help="do not drop the databases")
    parser.add_argument("--no-read-check", action="store_true", help="skip reading generated rows through the API")
    parser.add_argument(
        "--no-week-later", action="store_true", help="skip the informational incremental run a week later"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is not met")
    parser.add_argument(
        "--quiet-wait", type=float, default=20.0, help="seconds to wait for other processes to go idle (default 20)"
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--spec", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--report", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return args
    if not args.admin_url.split("@")[-1].startswith(("127.0.0.1", "localhost", "[::1]")):
        parser.error("--admin-url must point at a PostgreSQL on loopback")
    try:
        args.size_list = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        parser.error("--sizes: whole numbers separated by commas, e.g. 100,1000,5000")
    if not (args.size_list and min(args.size_list) > 0 and max(args.size_list) <= 20_000 and len(args.size_list) <= 5):
        parser.error("keep it bounded: sizes 1..20000, at most 5 of them")
    if not 0 <= args.quiet_wait <= 120:
        parser.error("--quiet-wait 0..120")
    return args


def _terminate(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through every `finally`: the databases drop


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child == "measure":
        return _child_measure(args.spec, args.report)
    if args.child:
        raise SystemExit(f"unknown child {args.child}")
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    started = time.monotonic()
    results: list[SizeResult] = []
    with tempfile.TemporaryDirectory(prefix="limbtrack-bench-trial-sync-") as tmp:
        for n in args.size_list:
            results.append(measure_size(n, args, Path(tmp)))
    print_results(results)
    goals_met = print_goals(results)
    valid = all(r.valid for r in results)
    if not valid:
        print()
        for r in results:
            for name, ok, text in r.checks:
                if not ok:
                    print(f"  CHECK FAILED N={r.n} {name}: {text}")
    log(f"done in {time.monotonic() - started:.0f}s; the run was {'valid' if valid else 'NOT valid (see above)'}")
    if not valid:
        return 2
    return 1 if args.strict and not goals_met else 0


if __name__ == "__main__":
    sys.exit(main())
