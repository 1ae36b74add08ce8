"""`/readyz` reports an unreachable database as 503 in the envelope."""

from pathlib import Path

from backend.app import create_app
from backend.db import Database
from tests.conftest import test_config


def test_readyz_is_503_when_the_database_cannot_be_reached(tmp_path: Path) -> None:
    unreachable = Database.from_url(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    client = create_app(test_config(), unreachable).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["code"] == "not_ready"
    assert client.get("/healthz").status_code == 200
