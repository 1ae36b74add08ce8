"""`flask` commands for operators. Each one calls the same services the API uses."""

from __future__ import annotations

import io
import json
import math
import secrets
import stat
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from backend import imaging, migrations
from backend.auth.access import auth_settings
from backend.auth.activation import issue_activation_code
from backend.auth.service import staff_actor
from backend.config import Config
from backend.core.actor import Actor
from backend.core.timeutil import utcnow
from backend.db import get_database
from backend.errors import DomainError
from backend.jobs import JOBS, JobContext, crontab
from backend.participants.models import Participant
from backend.participants.service import create_participant
from backend.reminders.dispatch import dispatch_due_reminders
from backend.reminders.senders import FcmSender, SenderConfigError, make_sender
from backend.staff.models import StaffRole, StaffUser
from backend.staff.service import create_staff, disable_staff
from backend.studies.document import build_protocol
from backend.studies.protocol import DEMO_PROTOCOL_PATH, ProtocolError, read_protocol_file
from backend.studies.service import find_study, load_protocol
from backend.trial_sync.export import export_csv
from backend.trial_sync.service import last_runs, row_counts, run_trial_sync
from backend.trial_sync.target import SqlTrialTarget, TrialDatabase, ViewBlocked
from backend.ulcers import intake
from backend.ulcers.upkeep import reanalyse_photos

db_cli = AppGroup("db", help="The operational database.")
protocol_cli = AppGroup("protocol", help="Study protocols.")
staff_cli = AppGroup("staff", help="Staff accounts.")
demo_cli = AppGroup("demo", help="The demo study for a laptop.")
jobs_cli = AppGroup("jobs", help="Periodic jobs (run them from cron; see `flask jobs list`).")
photos_cli = AppGroup("photos", help="Stored ulcer photos.")
ulcer_cli = AppGroup("ulcer", help="Ulcer area measurement of photo files (no database needed).")
reminders_cli = AppGroup("reminders", help="Push reminders.")
trial_sync_cli = AppGroup("trial-sync", help="Endpoint values into the trial database (cron: weekly).")


def _config() -> Config:
    return current_app.config["LIMBTRACK"]  # type: ignore[no-any-return]


def _fail(message: str) -> click.ClickException:
    return click.ClickException(message)


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations to the operational database."""
    url = _config().database_url
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    migrations.upgrade(get_database().engine)
    click.echo("database is at the latest migration")


@protocol_cli.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def protocol_load(path: Path) -> None:
    """Create a study from a protocol file, or add a new version of it."""
    try:
        document, sha256 = read_protocol_file(path)
        with get_database().session_scope() as session:
            result = load_protocol(session, document, sha256, Actor.system("cli:protocol load"), utcnow())
            click.echo(
                f"{result.study.code} protocol {result.protocol_version.version}: {result.outcome}"
                + (f"; sites added: {', '.join(result.added_sites)}" if result.added_sites else "")
                + (f"; cohorts added: {', '.join(result.added_cohorts)}" if result.added_cohorts else "")
            )
    except ProtocolError as exc:
        raise _fail(str(exc)) from exc


@staff_cli.command("create")
@click.option("--study", "study_code", required=True, help="Study code, e.g. PMSC-CLI-1")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice([r.value for r in StaffRole]), required=True)
@click.option("--site", "sites", multiple=True, help="Site code; repeat for several sites")
@click.password_option(envvar="LIMBTRACK_STAFF_PASSWORD", help="Prompted for when not given")
def staff_create(study_code: str, email: str, role: str, sites: tuple[str, ...], password: str) -> None:
    """Create a staff account."""
    try:
        with get_database().session_scope() as session:
            study = find_study(session, study_code)
            user = create_staff(
                session,
                auth_settings().secrets,
                Actor.system("cli:staff create"),
                study,
                email,
                password,
                StaffRole(role),
                list(sites),
                utcnow(),
            )
            click.echo(f"created {user.role.value} {user.email} (sites: {', '.join(sites) or 'all'})")
    except DomainError as exc:
        raise _fail(exc.message) from exc


@staff_cli.command("disable")
@click.argument("email")
@click.option("--reason", required=True)
def staff_disable(email: str, reason: str) -> None:
    """Disable a staff account and end its sessions at once."""
    try:
        with get_database().session_scope() as session:
            ended = disable_staff(session, Actor.system("cli:staff disable"), email, reason, utcnow())
            click.echo(f"disabled {email}; {ended} session(s) ended")
    except DomainError as exc:
        raise _fail(exc.message) from exc


DEMO_NURSE_EMAIL = "nurse@demo.limbtrack.test"
DEMO_SUBJECT = "TEH01-001"


def _demo_password(path: Path) -> tuple[str, bool]:
    """The demo nurse's password, kept in var/ (never in the repository)."""
    if path.exists():
        return path.read_text().strip(), False
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)
    path.write_text(password + "\n")
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    return password, True


@demo_cli.command("seed")
def demo_seed() -> None:
    """Load the demo protocol, a demo nurse and participant; print a login and a fresh code."""
    config = _config()
    if config.is_production:
        raise _fail("the demo seed is for development machines only")
    document, sha256 = read_protocol_file(DEMO_PROTOCOL_PATH)
    protocol = build_protocol(document)
    site, cohort = protocol.sites[0], protocol.cohorts[0]
    now = utcnow()
    with get_database().session_scope() as session:
        load_protocol(session, document, sha256, Actor.system("cli:demo seed"), now)
        study = find_study(session, protocol.study_code)
        password, new = _demo_password(config.var_dir / "demo-nurse-password.txt")
        nurse = session.scalar(select(StaffUser).where(StaffUser.email == DEMO_NURSE_EMAIL))
        if nurse is None or new:
            if nurse is not None:  # the password file was removed: start the demo account afresh
                raise _fail(
                    f"{DEMO_NURSE_EMAIL} exists but var/demo-nurse-password.txt is gone; delete var/ to start over"
                )
            nurse = create_staff(
                session,
                auth_settings().secrets,
                Actor.system("cli:demo seed"),
                study,
                DEMO_NURSE_EMAIL,
                password,
                StaffRole.NURSE,
                [site.code],
                now,
            )
        actor = staff_actor(nurse, f"demo-{uuid.uuid4().hex[:12]}")
        participant = session.scalar(
            select(Participant).where(Participant.study_id == study.id, Participant.subject_code == DEMO_SUBJECT)
        )
        if participant is None:
            participant, _ = create_participant(
                session,
                actor,
                {
                    "client_uuid": uuid.uuid5(uuid.NAMESPACE_URL, "limbtrack-demo-participant"),
                    "subject_code": DEMO_SUBJECT,
                    "site_code": site.code,
                    "cohort_code": cohort.code,
                    "target_leg": "right",
                    "timezone": site.timezone,
                    "language": "en",
                    "day0_date": None,
                    "consent_version": "1.0",
                    "consent_date": now.date(),
                },
                now,
            )
        issued = issue_activation_code(session, auth_settings(), actor, participant, now)
    click.echo(f"demo study {study.code} is ready")
    click.echo(f"  staff login:      {DEMO_NURSE_EMAIL} / {password}")
    click.echo(f"  participant:      {DEMO_SUBJECT} (id {participant.id})")
    click.echo(f"  activation code:  {issued.code} (valid until {issued.expires_at:%Y-%m-%d %H:%M} UTC)")


@jobs_cli.command("list")
def jobs_list() -> None:
    """Show every periodic job with its cron schedule and its command."""
    for job in JOBS:
        click.echo(f"{job.cron:<12} {job.name:<20} flask {' '.join(job.command):<26} {job.description}")


@jobs_cli.command("crontab")
@click.option("--root", default="/srv/limbtrack", show_default=True, help="The checkout cron runs the jobs from")
def jobs_crontab(root: str) -> None:
    """Print the crontab of every periodic job (the jobs app, from the checkout at --root)."""
    for line in crontab(root):
        click.echo(line)


_RUNNABLE = {job.name: job for job in JOBS if job.run is not None}


@jobs_cli.command("run")
@click.argument("name", type=click.Choice(list(_RUNNABLE)))
def jobs_run(name: str) -> None:
    """Run one periodic job now (the dispatcher and the trial sync have commands of their own)."""
    job = _RUNNABLE[name]
    assert job.run is not None
    with get_database().session_scope() as session:
        count = job.run(JobContext(session, utcnow(), current_app.extensions["limbtrack_photo_store"]))
    click.echo(f"{name}: {count} {job.counts}")


@reminders_cli.command("dispatch")
def reminders_dispatch() -> None:
    """Send the reminders that are due (cron: every minute; safe on several machines)."""
    try:
        sender = make_sender(_config().firebase_credentials)
        try:
            with get_database().session_scope() as session:
                report = dispatch_due_reminders(session, sender, utcnow(), clock=utcnow)
        finally:
            if isinstance(sender, FcmSender):
                sender.close()
    except SenderConfigError as exc:
        raise _fail(f"push is misconfigured, nothing more was sent: {exc}") from exc
    click.echo(f"reminders ({sender.name} sender): {report}")


@photos_cli.command("reanalyse")
@click.option("--all", "everything", is_flag=True, help="Every photo without a result of this algorithm version")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), help="Only photos received since this UTC date")
def photos_reanalyse(everything: bool, since: datetime | None) -> None:
    """Run the current estimator version on stored photos; older versions' results stay."""
    if everything == (since is not None):
        raise _fail("Give exactly one of --all or --since YYYY-MM-DD.")
    with get_database().session_scope() as session:
        result = reanalyse_photos(
            session,
            current_app.extensions["limbtrack_photo_store"],
            Actor.system("flask photos reanalyse"),
            utcnow(),
            since=since.replace(tzinfo=UTC) if since else None,
        )
    click.echo(
        f"algorithm {imaging.ALGORITHM_VERSION}: {result.analysed} analysed, "
        f"{result.skipped} already had it, {result.failed} failed"
    )
    if result.failed:
        raise SystemExit(1)


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".heic", ".heif"}


def _image_files(paths: tuple[Path, ...]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            files.append(path)
    return files


def _numbers(value: str, count: int, example: str) -> tuple[float, ...]:
    try:
        numbers = tuple(float(part) for part in value.split(","))
    except ValueError:
        numbers = ()
    if len(numbers) != count or not all(math.isfinite(v) for v in numbers):
        raise click.BadParameter(f"use {count} comma-separated numbers in upright image pixels, e.g. {example}")
    return numbers


def _seed_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    x, y = _numbers(value, 2, "1200,800")
    return (x, y)


def _box_option(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    x0, y0, x1, y1 = _numbers(value, 4, "900,500,1600,1100")
    if not (x1 > x0 and y1 > y0):
        raise click.BadParameter("the box needs X0 < X1 and Y0 < Y1")
    return (x0, y0, x1, y1)


@ulcer_cli.command("measure")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--seed", callback=_seed_option, help="X,Y inside the ulcer (upright pixels), for every file")
@click.option("--box", callback=_box_option, help="X0,Y0,X1,Y1 around the ulcer (upright pixels), for every file")
@click.option("--side-mm", default=20.0, show_default=True, help="Side of the marker's blue square")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per file")
def ulcer_measure(
    paths: tuple[Path, ...],
    seed: tuple[float, float] | None,
    box: tuple[float, float, float, float] | None,
    side_mm: float,
    as_json: bool,
) -> None:
    """Measure ulcer photos (files or folders) exactly as uploads are measured."""
    failed = 0
    for file in _image_files(paths):
        try:
            # The upload path: the same checks and clean pixels, then the same estimator.
            clean = intake.clean_image(file.read_bytes())
            analysis = imaging.measure_file(
                io.BytesIO(clean.data), seed=seed, box=box, marker=imaging.MarkerSpec(side_mm=side_mm)
            )
        except (DomainError, ValueError) as exc:  # not an image we accept, or an anchor it rejects
            failed += 1
            message = exc.message if isinstance(exc, DomainError | imaging.AnchorRejected) else str(exc)
            row: dict[str, Any] = {"file": str(file), "status": "error", "error": message}
        else:
            row = {"file": str(file), **analysis.to_dict()}
            row.pop("homography")
            row.pop("image_size")
        if as_json:
            click.echo(json.dumps(row))
        elif row["status"] == "error":
            click.echo(f"{file}: error: {row['error']}")
        else:
            area = f"{row['area_mm2']:.1f} mm²" if row["area_mm2"] is not None else _no_area(row["status"])
            retake = f", retake: {', '.join(row['retake'])}" if row["retake"] else ""
            click.echo(f"{file}: {row['status']}, {area}, flags: {', '.join(row['flags']) or 'none'}{retake}")
    if failed:
        raise SystemExit(1)


def _no_area(status: str) -> str:
    if status == imaging.Status.NO_MARKER:
        return "no mm² (no marker)"
    if status == imaging.Status.NEEDS_OUTLINE:
        return "no mm² (outline to be checked by a nurse)"
    return "no mm²"


def _trial_database() -> TrialDatabase:
    return current_app.extensions["limbtrack_trial_db"]  # type: ignore[no-any-return]


@trial_sync_cli.command("run")
@click.option("--full", is_flag=True, help="Derive every participant again, not only the changed ones")
@click.option("--dry-run", is_flag=True, help="Derive and count, but write nothing")
@click.option("--study", "study_code", help="Only this study (default: every study)")
def trial_sync_run(full: bool, dry_run: bool, study_code: str | None) -> None:
    """Derive endpoint values and bring the trial database up to date (one transaction)."""
    with get_database().session_scope() as session:
        try:
            report = run_trial_sync(
                session,
                SqlTrialTarget(_trial_database().engine),
                utcnow(),
                full=full,
                dry_run=dry_run,
                study_code=study_code,
                clock=utcnow,
            )
        except DomainError as exc:
            raise _fail(exc.message) from exc
        except ViewBlocked as exc:
            raise _fail(f"nothing was written: {exc}") from exc
    click.echo(f"trial sync: {report}")
    for line in report.skipped_detail:
        click.echo(f"  skipped (locked): {line}")


@trial_sync_cli.command("status")
@click.option("--runs", "limit", default=5, show_default=True, help="How many recent runs to show")
def trial_sync_status(limit: int) -> None:
    """The latest runs and the trial database's rows by status."""
    target = _trial_database().engine
    runs = last_runs(target, limit=limit)
    if not runs:
        click.echo("no sync run yet: `flask trial-sync run`")
    for run in runs:
        click.echo(
            f"run {run['id']} {run['mode']} {run['study_code'] or 'all studies'} "
            f"{run['started_at']:%Y-%m-%d %H:%M:%S}Z: {run['participants']} participant(s); inserted "
            f"{run['inserted']}, updated {run['updated']}, unchanged {run['unchanged']}, removed "
            f"{run['removed']}, skipped {run['skipped']}, missing {run['missing']}"
        )
    counts = row_counts(target)
    click.echo("endpoint rows: " + (", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"))


@trial_sync_cli.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv"]), default="csv", show_default=True)
@click.option("--study", "study_code", help="Only this study (default: every study)")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def trial_sync_export(fmt: str, study_code: str | None, directory: Path) -> None:
    """Write one CSV per endpoint family, the endpoint list and a data dictionary."""
    del fmt  # CSV is the one format so far
    with get_database().session_scope() as session:
        paths = export_csv(session, _trial_database().engine, directory, study_code)
    for path in paths:
        click.echo(f"wrote {path}")


def init_app(app: Flask) -> None:
    for group in (
        db_cli,
        protocol_cli,
        staff_cli,
        demo_cli,
        jobs_cli,
        photos_cli,
        ulcer_cli,
        reminders_cli,
        trial_sync_cli,
    ):
        app.cli.add_command(group)
