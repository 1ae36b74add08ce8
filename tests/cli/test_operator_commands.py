"""Operator commands: staff accounts and the demo seed used by `make run`."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.app import create_app
from backend.db import Database
from backend.staff.models import StaffUser
from backend.studies.protocol import DEMO_PROTOCOL_PATH
from tests.conftest import test_config


def run(app: Flask, *args: str, **kwargs: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=list(args), **kwargs)  # type: ignore[arg-type]
    return result.exit_code, result.output


def test_staff_create_and_disable(app: Flask, db: Session) -> None:
    run(app, "protocol", "load", str(DEMO_PROTOCOL_PATH))
    code, out = run(
        app,
        "staff",
        "create",
        "--study",
        "PMSC-CLI-1",
        "--email",
        "Inv@Clinic.example",
        "--role",
        "investigator",
        "--site",
        "TEH-01",
        "--site",
        "TEH-02",
        env={"LIMBTRACK_STAFF_PASSWORD": "a long enough password"},
    )
    assert code == 0, out
    user = db.scalar(select(StaffUser).where(StaffUser.email == "inv@clinic.example"))
    assert user is not None
    assert user.password_hash.startswith("$argon2id$")
    assert sorted(s.code for s in user.sites) == ["TEH-01", "TEH-02"]

    login = {"email": "inv@clinic.example", "password": "a long enough password"}
    client = app.test_client()
    assert client.post("/api/v1/auth/staff/login", json=login).status_code == 200

    code, out = run(app, "staff", "disable", "inv@clinic.example", "--reason", "left the study team")
    assert code == 0, out
    assert "1 session(s) ended" in out
    assert client.post("/api/v1/auth/staff/login", json=login).status_code == 401


def test_staff_create_refuses_bad_input(app: Flask) -> None:
    run(app, "protocol", "load", str(DEMO_PROTOCOL_PATH))
    base = ["staff", "create", "--study", "PMSC-CLI-1", "--role", "nurse"]
    env = {"LIMBTRACK_STAFF_PASSWORD": "a long enough password"}
    code, out = run(app, *base, "--email", "n@x.example", "--site", "NOPE", env=env)
    assert code != 0 and "no such site(s) in PMSC-CLI-1: NOPE" in out
    code, out = run(app, *base, "--email", "n@x.example", "--site", "TEH-01", env={"LIMBTRACK_STAFF_PASSWORD": "short"})
    assert code != 0 and "at least 12 characters" in out
    code, out = run(app, *base, "--email", "n@x.example", env=env)
    assert code != 0 and "needs at least one site" in out


def test_demo_seed_prints_a_working_login_and_code_and_reuses_what_exists(app: Flask, tmp_path: Path) -> None:
    demo_app = create_app(
        dataclasses.replace(app.config["LIMBTRACK"], var_dir=tmp_path), app.extensions["limbtrack_db"]
    )
    code, first = run(demo_app, "demo", "seed")
    assert code == 0, first
    login = re.search(r"staff login:\s+(\S+) / (\S+)", first)
    activation = re.search(r"activation code:\s+(\S+)", first)
    assert login and activation

    code, second = run(demo_app, "demo", "seed")
    assert code == 0, second
    assert re.search(r"staff login:\s+(\S+) / (\S+)", second).groups() == login.groups()  # type: ignore[union-attr]
    second_code = re.search(r"activation code:\s+(\S+)", second).group(1)  # type: ignore[union-attr]
    assert second_code != activation.group(1)

    client = demo_app.test_client()
    signed_in = client.post("/api/v1/auth/staff/login", json={"email": login.group(1), "password": login.group(2)})
    assert signed_in.status_code == 200
    activated = client.post("/api/v1/auth/patient/activate", json={"code": second_code})
    assert activated.status_code == 201
    assert activated.json["subject_code"] == "TEH01-001"
    assert (tmp_path / "demo-nurse-password.txt").stat().st_mode & 0o077 == 0


def test_demo_seed_refuses_production(tmp_path: Path) -> None:
    config = dataclasses.replace(test_config(), env="production", var_dir=tmp_path)
    app = create_app(config, Database.from_url(f"sqlite:///{tmp_path / 'x.db'}"))
    code, out = run(app, "demo", "seed")
    assert code != 0 and "development machines only" in out
