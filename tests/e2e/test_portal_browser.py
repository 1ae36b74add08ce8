"""A nurse's morning in a real browser (headless Chromium): sign in, clear the review
queue (accept one photo, correct one outline by dragging a point, reject one), look at
the participant's charts, issue an activation code. Each page is saved as a screenshot."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, FloatRect, Page, expect, sync_playwright
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db import get_database
from backend.ulcers.models import PhotoReview, ReviewStatus, UlcerPhoto
from tests.e2e.conftest import ARTIFACTS, CHROMIUM, Site
from tests.factories import PASSWORD


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/portal/today")
    expect(page).to_have_url(re.compile(r"/portal/sign-in"))
    shot(page, "01-sign-in")
    page.get_by_label("E-mail").fill(site.nurse.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Today", exact=True)).to_be_visible()


def test_a_nurse_clears_the_review_queue_and_issues_an_activation_code(page: Page, site: Site) -> None:
    first, second, third = site.photos
    sign_in(page, site)
    expect(page.locator("li.urgent")).to_contain_text("wound new or infected")
    shot(page, "02-today")

    # 1. Accept the first photo with the keyboard shortcut.
    page.get_by_role("link", name=f"Photo {first}").click()
    expect(page.get_by_role("heading", name=re.compile(f"Photo {first}"))).to_be_visible()
    shot(page, "03-photo-review")
    page.keyboard.press("a")
    expect(page).to_have_url(re.compile(f"/portal/photos/{second}$"))

    # 2. Correct the second one: drag a point of the outline; the area changes on screen.
    area = page.locator("#corrected-area")
    expect(area).to_have_text("—")
    centres = [centre(h.bounding_box()) for h in page.locator("svg.overlay circle.handle").all()]
    cx, cy = sum(x for x, _ in centres) / len(centres), sum(y for _, y in centres) / len(centres)
    x, y = centres[0]
    length = ((x - cx) ** 2 + (y - cy) ** 2) ** 0.5
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + (x - cx) / length * 12, y + (y - cy) / length * 12, steps=6)  # 12 px outwards
    page.mouse.up()
    expect(area).to_have_text(re.compile(r"^\d+\.\d mm²$"))
    shown_area = float(area.inner_text().split()[0])
    shot(page, "04-outline-corrected")
    page.get_by_role("button", name=re.compile("Save corrected outline")).click()
    expect(page).to_have_url(re.compile(f"/portal/photos/{third}$"))

    # 3. Reject the third; the queue is empty and Today says so.
    page.get_by_label("Reject because").select_option("blurred")
    page.get_by_role("button", name=re.compile("^Reject")).click()
    expect(page).to_have_url(re.compile(r"/portal/today$"))
    expect(page.get_by_text("No photos waiting.")).to_be_visible()

    with site.app.app_context(), get_database(site.app).sessionmaker() as db:
        assert_reviews(db, site, shown_area)

    # 4. The participant's page: the charts are drawn (server-side SVG).
    page.get_by_role("link", name=site.patient.participant.subject_code).first.click()
    expect(page.get_by_role("heading", name=site.patient.participant.subject_code)).to_be_visible()
    expect(page.locator("svg.chart, section svg[role=img]")).to_have_count(3)
    expect(page.locator("#pain-h + svg, #pain-h ~ svg").first).to_be_visible()
    shot(page, "05-participant")
    page.set_viewport_size({"width": 820, "height": 1180})  # a tablet, upright
    shot(page, "06-participant-tablet")
    page.set_viewport_size({"width": 1280, "height": 800})

    # 5. An activation code, with the QR code to scan.
    page.get_by_role("button", name="Issue an activation code").click()
    expect(page.get_by_role("heading", name=re.compile("Activation code for"))).to_be_visible()
    expect(page.locator(".qr svg")).to_be_visible()
    code = page.locator("#activation-code").inner_text()
    shot(page, "07-activation-code")
    activated = site.make.client.post("/api/v1/auth/patient/activate", json={"code": code, "platform": "android"})
    assert activated.status_code == 201, activated.json

    # 6. The participant list and the registration form.
    page.get_by_role("link", name="Participants", exact=True).click()
    expect(page.get_by_role("link", name=site.patient.participant.subject_code)).to_be_visible()
    shot(page, "08-participants")
    page.get_by_role("link", name="Register a participant").click()
    expect(page.get_by_label("Subject code")).to_be_visible()
    shot(page, "09-register")

    # 7. Sign out: the portal asks for a sign-in again.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/portal/sign-in"))


def centre(box: FloatRect | None) -> tuple[float, float]:
    assert box is not None
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def assert_reviews(db: Session, site: Site, shown_area: float) -> None:
    photos = {p.id: p for p in db.scalars(select(UlcerPhoto).where(UlcerPhoto.id.in_(site.photos)))}
    assert [photos[i].review_status for i in site.photos] == [
        ReviewStatus.ACCEPTED,
        ReviewStatus.CORRECTED,
        ReviewStatus.REJECTED,
    ]
    corrected = db.scalars(select(PhotoReview).where(PhotoReview.photo_id == site.photos[1])).one()
    estimate = photos[site.photos[1]].analysis
    assert estimate is not None and corrected.area_mm2 is not None and estimate.area_mm2 is not None
    assert corrected.area_mm2 != pytest.approx(estimate.area_mm2, rel=1e-3)  # the drag changed it
    assert corrected.area_mm2 == pytest.approx(shown_area, abs=0.06)  # what the page showed is what was saved
