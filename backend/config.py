"""Typed configuration read once from the environment.

Every setting has a safe embedded default for a laptop (`make run`); production mode
(`LIMBTRACK_ENV=production`) refuses to start while a secret is missing or still the
development default, and names the setting that is wrong.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = ROOT_DIR / "var"

DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"  # noqa: S105 (refused in production)
ENVIRONMENTS = ("development", "testing", "production")


class ConfigError(RuntimeError):
    """A setting is missing or unsafe; the message names it."""


def _sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


@dataclass(frozen=True)
class Config:
    env: str = "development"
    # Local state of a laptop install (databases, photos, the demo login); not in git.
    var_dir: Path = VAR_DIR
    database_url: str = _sqlite_url(VAR_DIR / "limbtrack.db")
    trial_database_url: str = _sqlite_url(VAR_DIR / "trial.db")
    photo_storage_dir: Path = VAR_DIR / "photos"
    secret_key: str = DEV_SECRET_KEY
    firebase_credentials: str | None = None
    log_level: str = "INFO"
    # Bodies above this are refused with 413 before any parsing.
    max_content_length: int = 1024 * 1024
    # Number of reverse proxies whose X-Forwarded-For we trust (0: none).
    trusted_proxies: int = 0
    access_token_ttl: timedelta = timedelta(minutes=15)
    staff_refresh_ttl: timedelta = timedelta(hours=12)
    # Patients may stay offline for weeks; their device session lasts the follow-up.
    patient_refresh_ttl: timedelta = timedelta(days=240)
    activation_code_ttl: timedelta = timedelta(hours=72)
    # argon2id cost (RFC 9106 low-memory profile by default; tests use a cheap one).
    password_hash_time_cost: int = 3
    password_hash_memory_kib: int = 65536

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Build the configuration from environment variables and validate it."""
        env = os.environ if env is None else env
        defaults = cls()
        config = cls(
            env=env.get("LIMBTRACK_ENV", defaults.env),
            database_url=env.get("DATABASE_URL") or defaults.database_url,
            trial_database_url=env.get("TRIAL_DATABASE_URL") or defaults.trial_database_url,
            photo_storage_dir=Path(env.get("PHOTO_STORAGE_DIR") or defaults.photo_storage_dir),
            secret_key=env.get("SECRET_KEY") or defaults.secret_key,
            firebase_credentials=env.get("FIREBASE_CREDENTIALS") or None,
            log_level=env.get("LOG_LEVEL", defaults.log_level).upper(),
            max_content_length=_int(env, "MAX_CONTENT_LENGTH", defaults.max_content_length),
            trusted_proxies=_int(env, "TRUSTED_PROXIES", defaults.trusted_proxies),
            access_token_ttl=timedelta(
                seconds=_int(env, "ACCESS_TOKEN_TTL_SECONDS", int(defaults.access_token_ttl.total_seconds()))
            ),
        )
        config.validate(explicit_secret="SECRET_KEY" in env and bool(env["SECRET_KEY"]))
        return config

    def validate(self, explicit_secret: bool = True) -> None:
        """Refuse unsafe settings; in production, refuse every development default."""
        if self.env not in ENVIRONMENTS:
            raise ConfigError(f"LIMBTRACK_ENV must be one of {', '.join(ENVIRONMENTS)}, got {self.env!r}")
        if self.max_content_length <= 0:
            raise ConfigError("MAX_CONTENT_LENGTH must be positive")
        if not self.is_production:
            return
        if not explicit_secret:
            raise ConfigError("SECRET_KEY is not set; production needs its own random secret")
        if self.secret_key == DEV_SECRET_KEY:
            raise ConfigError("SECRET_KEY is the development default; set a random secret")
        if len(self.secret_key) < 32:
            raise ConfigError("SECRET_KEY is shorter than 32 characters")
        if not self.firebase_credentials:
            # Without it reminders would only be logged: patients would silently get none.
            raise ConfigError("FIREBASE_CREDENTIALS is not set; production sends push reminders through FCM")
