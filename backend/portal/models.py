"""A portal sign-in, kept on the server: the browser holds only a random token.

It rides on a staff AuthSession (so disabling the account or ending the staff's
sessions ends it too) but has no rotating tokens of its own: two tabs can never race each
other into the API's refresh-token-reuse alarm, and a copied cookie gives nothing that
works against the API. The idle timeout is judged here, on the server.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.auth.models import AuthSession
from backend.db import Base


class PortalSession(Base):
    __tablename__ = "portal_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # keyed hash; the token is the cookie's
    auth_session_id: Mapped[int] = mapped_column(ForeignKey("auth_session.id"), index=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]

    auth_session: Mapped[AuthSession] = relationship()
