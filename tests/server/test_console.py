"""The web console (server/console) in a real browser: Playwright driving Debian's Chromium headless against real
servers on loopback. A receipt dropped on the Read page is drawn with exactly the lines, words and polygons the
HTTP API answers; a PDF's pages (those asked for) are drawn as they stream in; the Fleet page shows an agent's
camera events arrive live, its device and the sightings across its streams, and erases the device only for a
token with fleet.admin.

Chromium is installed through scripts/services.sh when missing; where it cannot be, the tests skip with the
reason (fail under OCR_REQUIRE_SERVICES=1). ``OCR_CONSOLE_SCREENSHOTS=1`` writes docs/console-read.png and
docs/console-fleet.png from the pages as tested.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from clients.ocr_client.fleet import FleetClient
from clients.ocr_client.fleet_types import EventFilter
from server.config import ServerConfig
from server.embedded import ServerThread
from tests.conftest import REPO, get_engine
from tests.fleet.processes import AgentProcess, Central, free_port
from tests.services import require_binary
from tests.stream import stream_videos

RECEIPT = REPO / "samples" / "receipt.jpg"
ARTICLE = REPO / "samples" / "article.pdf"  # born-digital: its pages come from the text layer, fast
WAIT_MS = 60_000  # a browser step waits at most this long for what the server answers


def _screenshot(page: Page, name: str, tmp_path: Path) -> None:
    """Kept beside the test's files; copied into docs/ when OCR_CONSOLE_SCREENSHOTS=1."""
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("OCR_CONSOLE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, REPO / "docs" / name)


@pytest.fixture(scope="module")
def browser() -> Browser:
    chromium = require_binary("chromium")
    with sync_playwright() as playwright:
        # --no-sandbox: the tests may run as root, where Chromium's sandbox refuses to start.
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def open_page(browser: Browser):
    """Opens fresh pages: (page at ``url``, the list its script errors and foreign requests are added to); they are
    closed after the test, before its servers stop (an open event stream would hold a draining server)."""
    contexts = []

    def open_(url: str) -> tuple[Page, list[str]]:
        page, errors = _open(browser, url)
        contexts.append(page.context)
        return page, errors

    yield open_
    for context in contexts:
        context.close()


def _open(browser: Browser, url: str) -> tuple[Page, list[str]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    parts = urllib.parse.urlsplit(url)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=f"{parts.scheme}://{parts.netloc}")
    page = context.new_page()
    origin = f"{parts.scheme}://{parts.netloc}/"
    errors: list[str] = []  # uncaught script errors, and any request that leaves the server (fonts, scripts, ...)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "request",
        lambda r: None if r.url.startswith((origin, "blob:", "data:")) else errors.append(f"request to {r.url}"),
    )
    page.goto(url)
    return page, errors


@pytest.fixture(scope="module")
def ocr_http() -> str:
    http_port = free_port()
    server = ServerThread(get_engine, ServerConfig(host="127.0.0.1", port=0, http_port=http_port))
    yield f"http://127.0.0.1:{http_port}"
    server.stop()


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=120) as reply:
        return json.load(reply)


def _points(attribute: str) -> list[float]:
    """x0, y0, x1, y1, ... of an SVG polygon's ``points``."""
    return [float(v) for pair in attribute.split() for v in pair.split(",")]


def _corners(polygon: list[dict]) -> list[float]:
    """x0, y0, x1, y1, ... of a JSON polygon (a zero coordinate is left out by the JSON mapping)."""
    return [float(p.get(axis, 0)) for p in polygon for axis in ("x", "y")]


def test_a_dropped_receipt_is_drawn_with_the_lines_and_words_the_api_answers(
    open_page, ocr_http: str, tmp_path: Path
) -> None:
    content = base64.b64encode(RECEIPT.read_bytes()).decode()
    expected = _post(f"{ocr_http}/v1/images:recognize", {"image": {"content": content}})
    lines = expected["lines"]
    assert len(lines) >= 5, expected.get("text")
    page, errors = open_page(f"{ocr_http}/")
    expect(page.locator("#server")).to_contain_text("ready", timeout=WAIT_MS)
    page.set_input_files("#file", str(RECEIPT))
    expect(page.locator("#read-status")).to_contain_text("1 page(s) read", timeout=WAIT_MS)

    assert page.locator(".line-list .line-text").all_inner_texts() == [line["text"] for line in lines]
    confidences = page.locator(".line-list .conf").all_inner_texts()
    assert confidences == [f"{line['confidence']:.2f}" for line in lines]
    svg = page.locator("svg.page")
    assert (svg.get_attribute("data-width"), svg.get_attribute("data-height")) == (
        str(expected["image_width"]),
        str(expected["image_height"]),
    )
    boxes = page.locator("svg .line-box")
    assert boxes.count() == len(lines)
    for i, line in enumerate(lines):
        assert _points(boxes.nth(i).get_attribute("points")) == pytest.approx(_corners(line["polygon"]))
    words = [w for line in lines for w in line["words"]]
    assert page.locator("svg .word-box").count() == len(words) > len(lines)
    assert page.locator("svg image").count() == 1  # the receipt itself under the polygons

    stages = page.locator("#timings tr[data-stage]").evaluate_all("rows => rows.map(r => r.dataset.stage)")
    assert {"detection", "recognition", "total"} <= set(stages)
    served = expected["provenance"]["stage_precision"]
    for stage, precision in served.items():
        expect(page.locator(f'#precision tr[data-stage="{stage}"] td')).to_have_text(precision)

    page.click("#copy-json")
    expect(page.locator("#copy-status")).to_have_text("JSON copied.")
    copied = json.loads(page.evaluate("navigator.clipboard.readText()"))
    for answer in (copied, expected):
        answer.pop("timings")  # each call has its own
    assert copied == expected

    page.uncheck("#show-words")
    expect(page.locator("svg .word-box").first).to_be_hidden()
    page.check("#show-words")
    _screenshot(page, "console-read.png", tmp_path)
    page.click("#tab-fleet")  # an OCR server without the fleet service: the page says so instead of failing calls
    expect(page.locator("#fleet-unavailable")).to_contain_text("no FleetService")
    expect(page.locator("#fleet-body")).to_be_hidden()
    assert errors == []


def test_a_pdf_s_pages_are_drawn_as_they_stream_in(open_page, ocr_http: str) -> None:
    page, errors = open_page(f"{ocr_http}/")
    expect(page.locator("#server")).to_contain_text("ready", timeout=WAIT_MS)
    page.fill("#doc-pages", "2-3")  # two pages stream in; the first is left out
    transfer = page.evaluate_handle(  # dropped on the page, as a person would (the receipt went through the picker)
        """([name, data]) => {
          const transfer = new DataTransfer();
          const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
          transfer.items.add(new File([bytes], name, { type: "application/pdf" }));
          return transfer;
        }""",
        [ARTICLE.name, base64.b64encode(ARTICLE.read_bytes()).decode()],
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
    expect(page.locator("#read-status")).to_contain_text("page(s) read", timeout=WAIT_MS)
    answers = json.loads(page.locator("#json").text_content())
    pages = [a["page"] for a in answers if "page" in a]
    assert [p["page_number"] for p in pages] == [2, 3]
    cards = page.locator(".page-card")
    assert cards.count() == len(pages)
    for n, answered in enumerate(pages):
        card = cards.nth(n)
        lines = [line for block in answered["blocks"] for par in block["paragraphs"] for line in par["lines"]]
        assert lines, answered
        assert card.locator(".line-text").all_inner_texts() == [line["text"] for line in lines]
        assert card.locator("svg .line-box").count() == len(lines)
        words = [word["text"] for line in lines for word in line["words"]]
        assert card.locator("svg .page-word-text").all_text_contents() == words  # no picture: the words are written
    assert errors == []


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@pytest.fixture(scope="module")
def secured_central(tmp_path_factory: pytest.TempPathFactory) -> Central:
    root = tmp_path_factory.mktemp("console-central")
    tokens = root / "tokens.json"
    scopes = {"camera": ["fleet.report"], "viewer": ["fleet.query"], "admin": ["fleet.query", "fleet.admin"]}
    tokens.write_text(
        json.dumps({"tokens": [{"sha256": _sha(f"{p}-token"), "principal": p, "scopes": s} for p, s in scopes.items()]})
    )
    http_port = free_port()
    central = Central(
        f"sqlite:///{root / 'fleet.db'}", "--tokens-file", str(tokens), "--http-port", str(http_port)
    ).start()
    central.http = f"http://127.0.0.1:{http_port}"
    yield central
    central.stop()


def _set_token(page: Page, token: str) -> None:
    page.fill("#token", token)
    page.dispatch_event("#token", "change")


def test_the_fleet_page_shows_an_agent_s_events_arrive_and_deletes_only_with_fleet_admin(
    open_page, secured_central: Central, tmp_path: Path
) -> None:
    page, errors = open_page(f"{secured_central.http}/#fleet")
    expect(page.locator("#fleet-unavailable")).to_contain_text("TOKEN_MISSING", timeout=WAIT_MS)
    _set_token(page, "viewer-token")
    expect(page.locator("#feed-status")).to_have_text("live", timeout=WAIT_MS)
    assert page.locator("#feed tbody tr").count() == 0

    scene = stream_videos.static_sign()
    clip = stream_videos.write_video(scene, tmp_path / "sign.avi")
    config = tmp_path / "agent.toml"
    config.write_text(
        f'device_id = "camera"\n[central]\ntarget = "{secured_central.target}"\ntoken = "camera-token"\n'
        f'[outbox]\npath = "{tmp_path / "outbox.db"}"\n'
        '[engine]\ndet_limit_type = "max"\ndet_limit_side_len = 960\nprecision = "fp32"\n'
        f'[[cameras]]\nstream_id = "gate-1"\nsource = "{clip}"\n'
        f'[[cameras]]\nstream_id = "gate-2"\nsource = "{clip}"\n',
        encoding="utf-8",
    )
    agent = AgentProcess(config, "--exit-when-done").start()
    try:
        expect(page.locator("#feed tbody tr").first).to_be_visible(timeout=180_000)
        assert agent.process.wait(180) == 0, agent.tail()
    finally:
        agent.stop()
    with FleetClient(secured_central.target, token="viewer-token") as client:
        stored = list(client.all_events(EventFilter(device_id="camera"), page_size=1000))
    assert {s.event.text for s in stored if s.event.type == "APPEARED"} == scene.texts
    expected = sorted((s.event.stream_id, s.event.type, s.event.text) for s in stored)
    rows = page.locator("#feed tbody tr")
    expect(rows).to_have_count(len(expected), timeout=WAIT_MS)  # every stored event arrived live, once
    seen = rows.evaluate_all("rows => rows.map(r => [...r.cells].map(c => c.textContent))")
    assert sorted((r[2], r[3], r[4]) for r in seen) == expected
    assert {r[1] for r in seen} == {"camera"}

    page.click("#devices-refresh")
    device = page.locator('#devices tr[data-device="camera"]')
    expect(device).to_contain_text(stored[0].event.bundle, timeout=WAIT_MS)
    expect(device).to_contain_text("gate-1")

    page.fill('#sightings-filter input[name="min"]', "2")
    page.click('#sightings-filter button[type="submit"]')
    streams_of: dict[str, set[str]] = {}
    for s in stored:
        streams_of.setdefault(re.sub(r"[^A-Z0-9]", "", s.event.text.upper()), set()).add(s.event.stream_id)
    across = sorted(text for text, streams in streams_of.items() if len(streams) == 2)
    assert set(across) >= {re.sub(r"[^A-Z0-9]", "", t.upper()) for t in scene.texts}
    expect(page.locator("#sightings-status")).to_have_text(f"{len(across)} sighting(s)", timeout=WAIT_MS)
    assert sorted(page.locator("#sightings tbody td:first-child").all_inner_texts()) == across
    expect(page.locator("#feed-status")).to_have_text("live")  # the same feed all along
    _screenshot(page, "console-fleet.png", tmp_path)

    # fleet.query only: delete is not offered, and the status line says why (the server's reason)
    expect(page.locator("#devices-status")).to_contain_text("PERMISSION_DENIED SCOPE_MISSING")
    expect(device.locator("button.delete")).to_be_hidden()
    _set_token(page, "admin-token")
    expect(device.locator("button.delete")).to_be_visible(timeout=WAIT_MS)
    device.locator("button.delete").click()
    page.fill("#delete-typed", "camer")  # the confirmation wants the id itself
    expect(page.locator("#delete-confirm")).to_be_disabled()
    page.fill("#delete-typed", "camera")
    page.click("#delete-confirm")
    expect(page.locator("#devices-status")).to_contain_text(f"Erased camera: {len(stored)} events", timeout=WAIT_MS)
    expect(device).to_have_count(0)
    assert errors == []
