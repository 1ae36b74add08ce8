"""A staff member's browser for the portal tests: its own cookie jar, sign-in through
the form, and forms posted with the CSRF token of the page they came from."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from werkzeug.test import TestResponse

from backend.staff.models import StaffUser
from tests.factories import PASSWORD

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    def __init__(self, app: Flask) -> None:
        self.client = app.test_client()
        self.page: TestResponse | None = None

    def get(self, url: str, **kwargs: Any) -> TestResponse:
        response = self.client.get(url, buffered=True, **kwargs)  # a photo is a stream to close
        if response.mimetype == "text/html":
            self.page = response
        return response

    def csrf(self) -> str:
        assert self.page is not None, "open a page first"
        match = CSRF.search(self.page.get_data(as_text=True))
        assert match, "the page has no form"
        return match[1]

    def post(self, url: str, data: dict[str, Any] | None = None, *, from_page: str | None = None) -> TestResponse:
        """Submit a form as the page at `from_page` (default: the last page) would."""
        if from_page is not None:
            self.get(from_page)
        response = self.client.post(url, data={"csrf_token": self.csrf(), **(data or {})})
        if response.mimetype == "text/html":
            self.page = response
        return response

    def sign_in(self, user: StaffUser, password: str = PASSWORD) -> TestResponse:
        return self.post("/portal/sign-in", {"email": user.email, "password": password}, from_page="/portal/sign-in")

    def text(self, response: TestResponse) -> str:
        return response.get_data(as_text=True)


def signed_in(app: Flask, user: StaffUser) -> Browser:
    browser = Browser(app)
    response = browser.sign_in(user)
    assert response.status_code == 302 and response.location.endswith("/portal/today"), browser.text(response)
    return browser
