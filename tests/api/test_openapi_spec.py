"""The committed spec is exactly what the app generates (`make spec` updates it)."""

from pathlib import Path

import yaml
from flask.testing import FlaskClient

SPEC_PATH = Path(__file__).resolve().parents[2] / "api_spec" / "openapi.yaml"


def test_committed_spec_matches_the_app(client: FlaskClient) -> None:
    generated = client.get("/api/openapi.json").json
    committed = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    assert committed == generated, "api_spec/openapi.yaml is stale: run `make spec` and commit it"


def test_spec_and_docs_are_served(client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json")
    assert spec.status_code == 200
    assert spec.json["info"]["title"] == "LimbTrack API"
    assert "bearerAuth" in spec.json["components"]["securitySchemes"]
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    assert "/api/docs-assets/swagger-ui-bundle.js" in docs.text
    with client.get("/api/docs-assets/swagger-ui-bundle.js") as asset:
        assert asset.status_code == 200
