"""report.pdf as a reader sees it: printed by WeasyPrint, each page turned to an image by pdftoppm (poppler)."""

from __future__ import annotations

import base64
import io
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pytest
from PIL import Image

from responders.report import build_week_report
from responders.report_charts import NETWORK_COLOURS, SENTIMENT_COLOURS, TIER_COLOURS
from responders.report_pdf import html_to_pdf
from store import Store
from store.incoming import Author, NewMention, ScoredMention, Scores
from store.mentions import save_mentions

MON = datetime(2026, 11, 16, tzinfo=UTC)
NETWORKS = ("x", "mastodon", "bluesky")
SENTIMENTS = ("negative", "negative", "neutral", "positive")
TIERS = (("critical", 90), ("high", 70), ("normal", 40), ("low", 10))


def week_of_mentions(store: Store) -> None:
    """Two weeks of mentions on three networks, every day, with replies from the brand to some."""
    items = []
    for n in range(140):
        at = MON - timedelta(days=7) + timedelta(hours=n * 2.4)
        network = NETWORKS[n % 3]
        tier, urgency = TIERS[n % 4]
        items.append(
            ScoredMention(
                mention=NewMention(
                    network=network,
                    native_id=f"m{n}",
                    conversation_id=f"c{n}",
                    text=f"my order {100000 + n} is late #delivery, the widget is broken",
                    created_at=at,
                    author=Author(native_user_id=f"u{n % 17}", handle=f"user{n % 17}"),
                    brand="Acme",
                ),
                scores=Scores(
                    sentiment=SENTIMENTS[n % 4],
                    complaint=0.9 if n % 2 else 0.2,
                    urgency=urgency,
                    urgency_tier=tier,
                    entities=[{"label": "PRODUCT", "text": "Widget"}],
                ),
            )
        )
        if n % 3 == 0:
            items.append(
                ScoredMention(
                    mention=NewMention(
                        network=network,
                        native_id=f"r{n}",
                        conversation_id=f"c{n}",
                        text="Sorry! DM us",
                        created_at=at + timedelta(minutes=5 + n),
                        author=Author(native_user_id="acme", handle="acme"),
                        brand="Acme",
                        is_own=True,
                    )
                )
            )
    with store.write() as session:
        save_mentions(items, session=session)


def rgb(colour: str) -> tuple[int, int, int]:
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))


def pixels_near(image: Image.Image, colour: str, box: tuple[int, int, int, int] | None = None) -> int:
    """How many pixels of `image` (within `box`) are close to `colour` (anti-aliasing blurs edges)."""
    region = image.crop(box) if box else image
    target = rgb(colour)
    count = 0
    for many, pixel in region.getcolors(maxcolors=1 << 20) or []:
        if sum(abs(a - b) for a, b in zip(cast(tuple[int, int, int], pixel), target, strict=True)) <= 24:
            count += many
    return count


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[Image.Image]]]:
    workdir = tmp_path_factory.mktemp("pdf")
    store = Store(f"sqlite:///{workdir / 'earful.db'}")
    store.migrate()
    week_of_mentions(store)
    paths = build_week_report(store, "2026-W47", workdir / "out", now=MON + timedelta(days=8))
    store.dispose()
    assert paths.pdf is not None
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(paths.pdf), str(workdir / "page")], check=True)
    pages = [Image.open(p).convert("RGB") for p in sorted(workdir.glob("page-*.png"))]
    yield paths.pdf, pages


def test_pdf_pages_are_a4_numbered_and_sane(printed: tuple[Path, list[Image.Image]]) -> None:
    pdf, pages = printed
    assert pdf.read_bytes().startswith(b"%PDF")
    assert 2 <= len(pages) <= 5
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "595.276 x 841.89 pts (A4)" in info
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Weekly report 2026-W47" in text and f"Page 1 of {len(pages)}" in text
    assert "First response and SLA" in text and "Customers with the most complaints" in text
    for number, page in enumerate(pages, start=1):
        assert page.size == (497, 702)  # A4 at 60 dpi
        inked = 1 - pixels_near(page, "#ffffff") / (page.size[0] * page.size[1])
        # Full pages but the last, which may hold a table's last rows; none is empty.
        assert inked > (0.005 if number == len(pages) else 0.05), (number, inked)


def test_first_page_shows_the_figures_and_the_charts(printed: tuple[Path, list[Image.Image]]) -> None:
    _pdf, pages = printed
    first = pages[0]
    width, height = first.size
    top, middle, bottom = (
        (0, 0, width, height // 4),
        (0, height // 4, width, height // 2),
        (0, height // 2, width, height),
    )
    # The volume chart: a bar segment per network, each in its colour, below the headline figures.
    for network in NETWORK_COLOURS.keys() & set(NETWORKS):
        assert pixels_near(first, NETWORK_COLOURS[network], middle) > 150, network
    assert pixels_near(first, NETWORK_COLOURS["reddit"]) == 0  # no Reddit mention, no Reddit bar
    # The sentiment lines and the urgency bars, in the lower half.
    assert pixels_near(first, SENTIMENT_COLOURS["negative"], bottom) > 40
    assert pixels_near(first, SENTIMENT_COLOURS["positive"], bottom) > 40
    assert pixels_near(first, TIER_COLOURS["critical"], bottom) > 40
    # Headline figures: their changes are coloured better (green) or worse (red) text in the top quarter.
    assert pixels_near(first, "#1f2933", top) > 200
    distinct = len(first.getcolors(maxcolors=1 << 20) or [])
    assert distinct > 200


class _Counting(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        _Counting.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()
        self.wfile.write(_png())

    def log_message(self, *_args: Any) -> None:
        pass


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 40), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def test_the_printer_fetches_nothing_but_inline_data() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        inline = "data:image/png;base64," + base64.b64encode(_png()).decode()
        page = (
            f'<html><head><link rel="stylesheet" href="{url}/style.css"></head><body>'
            f'<img src="{url}/remote.png"><img src="file:///etc/hostname">'
            f'<div style="background: url({url}/bg.png)">x</div><img src="{inline}"></body></html>'
        )
        pdf = html_to_pdf(page)
    finally:
        server.shutdown()
        server.server_close()
    assert pdf.startswith(b"%PDF")
    assert _Counting.hits == []
    # The inline image was drawn: the PDF embeds exactly one image.
    assert pdf.count(b"/Subtype /Image") == 1
