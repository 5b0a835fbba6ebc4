"""`earful tui` is the desk the demo runs, with the configuration's desk settings: remapped keys, the refresh
beat, the customer tiers; and without a terminal it says so in one line instead of spinning for ever."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from desk_kit import wait_for
from sqlmodel import select
from textual.widgets import DataTable, OptionList

from earful.cli import tui_app
from store import Store
from store.mentions import save_mentions
from store.models import Customer, Thread
from tui.customer import CustomerScreen, TierPicker
from tui.inbox import InboxScreen

CONFIG = """
[database]
url = "sqlite:///{db}"

[desk]
responder = "alice"
refresh_seconds = 0.25

[desk.keys]
"inbox.done" = "e"

[nlp.urgency.customer_tiers]
gold = 1.5
standard = 1.0
"""


def configured(tmp_path: Path, make_mention) -> tuple[Path, Store]:
    db = tmp_path / "desk.db"
    config = tmp_path / "earful.toml"
    config.write_text(CONFIG.format(db=db))
    store = Store(f"sqlite:///{db}")
    store.migrate()
    with store.write() as s:
        save_mentions(
            [make_mention("1", text="@acme where is my parcel", urgency=60, tier="high")], session=s
        )
    return config, store


async def test_earful_tui_runs_with_the_configured_keys_refresh_and_tiers(tmp_path, make_mention):
    config, store = configured(tmp_path, make_mention)
    app = tui_app(config)
    assert app.refresh_seconds == 0.25
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(
            pilot, lambda: isinstance(app.screen, InboxScreen) and app.screen.query_one(DataTable).row_count
        )
        # The customer's tiers are the configured ones (added to the defaults).
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, CustomerScreen) and app.screen.view is not None)
        await pilot.press("T")
        await wait_for(pilot, lambda: isinstance(app.screen, TierPicker))
        offered = [str(o.prompt).split()[1] for o in app.screen.query_one(OptionList)._options]
        assert offered == ["vip", "standard", "watch", "gold"]
        await pilot.press("4")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, CustomerScreen)
                and "tier gold" in str(app.screen.query_one("#customer-title").render())
            ),
        )
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen))
        # "e" is Done here, as [desk.keys] says.
        await pilot.press("e")
        await wait_for(pilot, lambda: app.screen.query_one(DataTable).row_count == 0)
    with store.read() as s:
        assert s.exec(select(Thread)).one().status == "resolved"
        assert s.exec(select(Customer)).one().tier == "gold"
    store.dispose()


def test_earful_tui_without_a_terminal_refuses_in_one_line(tmp_path, make_mention):
    config, store = configured(tmp_path, make_mention)
    store.dispose()
    done = subprocess.run(
        [sys.executable, "-m", "earful", "tui", "--config", str(config)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    said = done.stderr.strip().splitlines()
    assert len(said) == 1 and "earful tui needs a terminal" in said[0], done.stderr
