"""A nurse's morning in a real browser (headless Chromium): sign in, clear the review
queue (accept one photo, correct one outline by dragging a point, reject one), look at
the participant's charts, issue an activation code. Each page is saved as a screenshot."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, FloatRect, Page, Route, expect, sync_playwright
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


@pytest.fixture
def console(page: Page) -> list[str]:
    """The console errors and uncaught exceptions of the pages visited, with their URL."""
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(f"{page.url}: uncaught {error}"))
    return errors


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


def test_a_nurse_clears_the_review_queue_and_issues_an_activation_code(
    page: Page, site: Site, console: list[str]
) -> None:
    first, second, third = site.photos
    sign_in(page, site)
    expect(page.locator("li.urgent")).to_contain_text("wound new or infected")
    shot(page, "02-today")

    # 1. Accept the first photo with the keyboard shortcut: the overlay lies exactly on the
    # image; a second press while the first is on its way sends nothing more.
    page.get_by_role("link", name=f"Photo {first}").click()
    expect(page.get_by_role("heading", name=re.compile(f"Photo {first}"))).to_be_visible()
    wait_for_review_script(page)
    assert_overlay_on_image(page)
    shot(page, "03-photo-review")
    review_post = re.compile(r"/portal/photos/\d+/review$")
    held: list[Route] = []  # the decision's POSTs, held back while A is pressed again
    page.route(review_post, lambda route: held.append(route))
    with page.expect_request(review_post):
        page.keyboard.press("a")
    page.context.cookies()  # one round trip more: the held request's route, sent just after it, has arrived
    assert len(held) == 1
    page.keyboard.press("a")
    held[0].continue_()
    expect(page).to_have_url(re.compile(f"/portal/photos/{second}$"))
    # A second POST would have left the page before the first was released, and been held.
    assert len(held) == 1
    page.unroute(review_post)

    # 2. Correct the second one. A click inside the outline adds nothing, one on its edge
    # adds a point (undone); then drag a point: the area changes on screen.
    wait_for_review_script(page)
    area = page.locator("#corrected-area")
    expect(area).to_have_text("—")
    handles = page.locator("svg.overlay circle.handle")
    count = handles.count()
    centres = [centre(h.bounding_box()) for h in handles.all()]
    cx, cy = sum(x for x, _ in centres) / len(centres), sum(y for _, y in centres) / len(centres)
    page.mouse.click(cx, cy)
    expect(handles).to_have_count(count)
    edges = [(centres[i], centres[(i + 1) % count]) for i in range(count)]
    (x1, y1), (x2, y2) = max(edges, key=lambda e: (e[1][0] - e[0][0]) ** 2 + (e[1][1] - e[0][1]) ** 2)
    page.mouse.click((x1 + x2) / 2, (y1 + y2) / 2)  # the longest edge's middle: away from the points
    expect(handles).to_have_count(count + 1)
    page.get_by_role("button", name="Undo changes").click()
    expect(handles).to_have_count(count)
    expect(area).to_have_text("—")
    x, y = centres[0]
    save = page.get_by_role("button", name=re.compile("Save corrected outline"))
    page.mouse.move(x, y)  # across the outline to beyond its far side: it crosses itself
    page.mouse.down()
    page.mouse.move(cx + (cx - x) * 1.5, cy + (cy - y) * 1.5, steps=6)
    page.mouse.up()
    expect(page.locator("#outline-problem")).to_have_text(re.compile("crosses itself"))
    expect(save).to_be_disabled()
    expect(area).to_have_text("—")
    page.get_by_role("button", name="Undo changes").click()
    expect(page.locator("#outline-problem")).to_have_text("")
    length = ((x - cx) ** 2 + (y - cy) ** 2) ** 0.5
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + (x - cx) / length * 12, y + (y - cy) / length * 12, steps=6)  # 12 px outwards
    page.mouse.up()
    expect(area).to_have_text(re.compile(r"^\d+\.\d mm²$"))
    shown_area = float(area.inner_text().split()[0])
    shot(page, "04-outline-corrected")
    save.click()
    expect(page).to_have_url(re.compile(f"/portal/photos/{third}$"))

    # 3. Reject the third; the queue is empty and Today says so.
    wait_for_review_script(page)
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

    # Nothing was blocked by the Content-Security-Policy, and no script failed.
    assert [e for e in console if re.search("Content.Security.Policy|uncaught", e)] == []


def wait_for_review_script(page: Page) -> None:
    """review.js has drawn the outline and listens to the keys."""
    expect(page.locator("#photo")).to_have_attribute("data-ready", "1")


def assert_overlay_on_image(page: Page) -> None:
    """The SVG covers exactly the image, and the first outline point is drawn where it
    lies on the image."""
    image, overlay = page.locator("#photo img").bounding_box(), page.locator("svg.overlay").bounding_box()
    assert image is not None and overlay is not None
    for key in ("x", "y", "width", "height"):
        assert overlay[key] == pytest.approx(image[key], abs=1), (key, overlay, image)
    geometry = json.loads(page.locator("#photo").get_attribute("data-geometry") or "{}")
    px, py = geometry["outline"][0]
    expected = (
        image["x"] + px / geometry["width"] * image["width"],
        image["y"] + py / geometry["height"] * image["height"],
    )
    drawn = centre(page.locator('svg.overlay circle.handle[data-index="0"]').bounding_box())
    assert drawn == pytest.approx(expected, abs=1)


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
