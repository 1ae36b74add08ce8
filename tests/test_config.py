"""Configuration: safe embedded defaults, and production refuses unsafe secrets by name."""

from __future__ import annotations

import pytest

from backend.app import create_app
from backend.config import DEV_SECRET_KEY, Config, ConfigError

GOOD_SECRET = "k" * 48


def test_development_defaults_need_no_environment() -> None:
    config = Config.from_env({})
    assert config.env == "development"
    assert config.database_url.endswith("var/limbtrack.db")
    assert config.trial_database_url.endswith("var/trial.db")
    assert config.secret_key == DEV_SECRET_KEY
    assert config.firebase_credentials is None


def test_settings_come_from_the_environment(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = Config.from_env(
        {
            "LIMBTRACK_ENV": "production",
            "SECRET_KEY": GOOD_SECRET,
            "DATABASE_URL": "postgresql://db/limbtrack",
            "TRIAL_DATABASE_URL": "postgresql://db/trial",
            "PHOTO_STORAGE_DIR": str(tmp_path),
            "FIREBASE_CREDENTIALS": "/etc/limbtrack/firebase.json",
            "MAX_CONTENT_LENGTH": "2048",
        }
    )
    assert config.is_production
    assert config.database_url == "postgresql://db/limbtrack"
    assert config.trial_database_url == "postgresql://db/trial"
    assert config.photo_storage_dir == tmp_path
    assert config.firebase_credentials == "/etc/limbtrack/firebase.json"
    assert config.max_content_length == 2048


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "SECRET_KEY is not set"),
        ({"SECRET_KEY": ""}, "SECRET_KEY is not set"),
        ({"SECRET_KEY": DEV_SECRET_KEY}, "SECRET_KEY is the development default"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY is shorter than 32"),
    ],
)
def test_production_refuses_missing_or_default_secrets(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Config.from_env({"LIMBTRACK_ENV": "production", **env})


def test_the_app_refuses_to_start_in_production_with_the_default_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIMBTRACK_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"LIMBTRACK_ENV": "staging"}, "LIMBTRACK_ENV must be one of"),
        ({"MAX_CONTENT_LENGTH": "lots"}, "MAX_CONTENT_LENGTH must be a whole number"),
        ({"MAX_CONTENT_LENGTH": "0"}, "MAX_CONTENT_LENGTH must be positive"),
    ],
)
def test_bad_values_are_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Config.from_env(env)
