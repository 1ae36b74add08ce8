"""Load protocol files into studies; read a study's current schedule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.audit.service import record_audit, snapshot
from backend.core.actor import Actor
from backend.errors import NotFound
from backend.studies.document import CohortSpec, SiteSpec, StudyProtocol, build_protocol
from backend.studies.models import Cohort, ProtocolVersion, Site, Study, Visit
from backend.studies.protocol import ProtocolError


@dataclass(frozen=True)
class LoadResult:
    study: Study
    protocol_version: ProtocolVersion
    outcome: str  # "created", "upgraded" or "unchanged"
    added_sites: tuple[str, ...] = ()
    added_cohorts: tuple[str, ...] = ()


def _version_key(version: str) -> tuple[int, ...]:
    parts = tuple(int(p) for p in version.split("."))
    return parts + (0,) * (3 - len(parts))


def load_protocol(session: Session, document: dict[str, Any], sha256: str, actor: Actor, now: datetime) -> LoadResult:
    """Create a study from a validated protocol, or add a newer version to it.

    Loading the same version again is a no-op; a loaded version is never changed (a
    different file under the same version number is refused), and an older version
    number than the current one is refused. Sites and cohorts are only ever added.
    """
    typed = build_protocol(document)
    study = session.scalar(select(Study).where(Study.code == typed.study_code))
    outcome = "upgraded"
    if study is None:
        study = Study(code=typed.study_code, title=typed.study_title, registry_id=typed.registry_id, created_at=now)
        session.add(study)
        session.flush()
        record_audit(session, actor, "study.create", study, after=snapshot(study), study_id=study.id, now=now)
        outcome = "created"
    else:
        existing = {pv.version: pv for pv in study.protocol_versions}
        if typed.version in existing:
            loaded = existing[typed.version]
            if loaded.sha256 != sha256:
                message = f"version: {typed.version} is already loaded with different content"
                raise ProtocolError([message + "; give the change a new version"])
            return LoadResult(study, loaded, "unchanged")
        current = study.current_protocol
        if current is not None and _version_key(typed.version) <= _version_key(current.version):
            raise ProtocolError([f"version: {typed.version} is older than the loaded {current.version}"])

    added_sites = _add_missing(session, study, Site, typed.sites, actor, now)
    added_cohorts = _add_missing(session, study, Cohort, typed.cohorts, actor, now)
    protocol = ProtocolVersion(
        study=study,
        version=typed.version,
        document=document,
        sha256=sha256,
        loaded_at=now,
        loaded_by=actor.label or str(actor.audit_id),
    )
    session.add(protocol)
    for visit in typed.visits:
        session.add(
            Visit(
                protocol_version=protocol,
                code=visit.code,
                label=visit.label,
                target_day=visit.target_day,
                window_start_day=visit.start_day,
                window_end_day=visit.end_day,
                injection=visit.injection,
            )
        )
    record_audit(
        session,
        actor,
        "protocol.load",
        protocol,
        after={"version": protocol.version, "sha256": sha256},
        study_id=study.id,
        now=now,
    )
    session.commit()
    return LoadResult(study, protocol, outcome, added_sites, added_cohorts)


def _add_missing(
    session: Session,
    study: Study,
    model: type[Site] | type[Cohort],
    items: Sequence[SiteSpec] | Sequence[CohortSpec],
    actor: Actor,
    now: datetime,
) -> tuple[str, ...]:
    have = set(session.scalars(select(model.code).where(model.study_id == study.id)))
    added = []
    for item in items:
        if item.code in have:
            continue
        row = model(study=study, **item._asdict())
        session.add(row)
        session.flush()
        record_audit(
            session, actor, f"{model.__tablename__}.create", row, after=snapshot(row), study_id=study.id, now=now
        )
        added.append(item.code)
    return tuple(added)


def get_study(session: Session, study_id: int) -> Study:
    study = session.get(Study, study_id)
    if study is None:
        raise NotFound("No such study.")
    return study


def find_study(session: Session, code: str) -> Study:
    study = session.scalar(select(Study).where(Study.code == code))
    if study is None:
        raise NotFound(f"No study with code {code!r}; load its protocol first.")
    return study


ProtocolSettings = StudyProtocol  # the name request handling has long used for it

_protocol_cache: dict[tuple[int, str], StudyProtocol] = {}


def protocol_of(version: ProtocolVersion) -> StudyProtocol:
    """The typed protocol of a loaded version; built once per process (versions never change)."""
    key = (version.id, version.sha256)  # the hash too: ids can be reused after a rollback
    cached = _protocol_cache.get(key)
    if cached is None:
        cached = _protocol_cache[key] = build_protocol(version.document, version.id)
    return cached


def current_protocol(session: Session, study_id: int) -> StudyProtocol:
    """The study's current protocol; a request costs one indexed query for its version's id."""
    row = session.execute(
        select(ProtocolVersion.id, ProtocolVersion.sha256)
        .where(ProtocolVersion.study_id == study_id)
        .order_by(ProtocolVersion.loaded_at.desc(), ProtocolVersion.id.desc())
        .limit(1)
    ).first()
    if row is None:
        raise NotFound("The study has no protocol loaded.")
    cached = _protocol_cache.get((row.id, row.sha256))
    if cached is None:
        version = session.get_one(ProtocolVersion, row.id)
        cached = protocol_of(version)
    return cached
