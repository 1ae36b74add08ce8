"""Passwords (argon2id), opaque tokens and activation codes, and their keyed hashes."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ACCESS_PREFIX = "lta_"
REFRESH_PREFIX = "ltr_"
# Crockford base32 without I, L, O, U: nothing to misread when a nurse reads it out.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 12  # 60 bits; single use, 72 hours, and throttled per address
_CODE_RE = re.compile(rf"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$")


@dataclass(frozen=True)
class Secrets:
    """Hashing with the app's secret key and password cost settings."""

    secret_key: str
    time_cost: int = 3
    memory_kib: int = 65536

    @cached_property
    def hasher(self) -> PasswordHasher:
        return PasswordHasher(time_cost=self.time_cost, memory_cost=self.memory_kib, parallelism=1)

    def keyed_hash(self, value: str) -> str:
        """HMAC-SHA256, so a stolen table of hashes cannot be checked offline."""
        return hmac.new(self.secret_key.encode(), value.encode(), hashlib.sha256).hexdigest()

    def hash_password(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify_password(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def burn_password_check(self, password: str) -> None:
        """Spend the time of a real check, so unknown e-mails are not told apart by timing."""
        self.verify_password(self._dummy_hash, password)

    @cached_property
    def _dummy_hash(self) -> str:
        return self.hasher.hash("no such account")


def new_access_token() -> str:
    return ACCESS_PREFIX + secrets.token_urlsafe(32)  # 256 bits from the OS CSPRNG


def new_refresh_token() -> str:
    return REFRESH_PREFIX + secrets.token_urlsafe(32)


def new_activation_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_activation_code(raw: str) -> str | None:
    """Accept what a person types (spaces, dashes, lower case, O for 0); None if garbled."""
    code = re.sub(r"[\s-]", "", raw).upper().translate(str.maketrans("OIL", "011"))
    return code if _CODE_RE.match(code) else None


def format_activation_code(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))
