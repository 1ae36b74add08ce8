"""flask-smorest Api with LimbTrack's error envelope and OpenAPI settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flask_smorest
import flask_swagger_ui
from flask import Blueprint as FlaskBlueprint

from backend.core.schemas import ErrorSchema

API_VERSION = "1.0.0"

# Swagger UI's files come from a PyPI package and are served by us: the docs work on a
# network that cannot reach a CDN, and nothing is fetched from outside.
swagger_ui_assets = FlaskBlueprint(
    "swagger_ui_assets",
    __name__,
    static_folder=str(Path(flask_swagger_ui.__file__).parent / "dist"),
    static_url_path="/api/docs-assets",
)


class Api(flask_smorest.Api):  # type: ignore[misc]
    ERROR_SCHEMA = ErrorSchema

    @staticmethod
    def flask_settings() -> dict[str, Any]:
        return {
            "API_TITLE": "LimbTrack API",
            "API_VERSION": API_VERSION,
            "OPENAPI_VERSION": "3.0.3",
            "OPENAPI_URL_PREFIX": "/api",
            "OPENAPI_JSON_PATH": "openapi.json",
            "OPENAPI_SWAGGER_UI_PATH": "docs",
            "OPENAPI_SWAGGER_UI_URL": "/api/docs-assets/",
            "API_SPEC_OPTIONS": {
                "info": {
                    "description": (
                        "Patient-reported outcomes for limb-ischemia trials. Sign in with "
                        "`POST /api/v1/auth/staff/login`, then use **Authorize** with the access token."
                    )
                },
                "components": {
                    "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
                },
            },
        }
