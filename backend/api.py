"""flask-smorest Api with LimbTrack's error envelope and OpenAPI settings."""

from __future__ import annotations

from typing import Any

import flask_smorest

from backend.core.schemas import ErrorSchema

API_VERSION = "1.0.0"


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
            "OPENAPI_SWAGGER_UI_URL": "https://cdn.jsdelivr.net/npm/swagger-ui-dist/",
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
