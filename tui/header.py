"""The desk's top line: where you are, the last 24 hours at a glance (volume and mood), and what the sources do."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Sparkline, Static


class DeskHeader(Horizontal):
    # The title is as wide as it needs and comes first, so a narrow window clips the sparklines, never the title;
    # below 100 columns the sparklines lose their labels and shrink.
    DEFAULT_CSS = """
    DeskHeader { height: 1; background: $primary-background; padding: 0 1; }
    DeskHeader > #title { width: 6; color: auto 90%; }
    DeskHeader > #spacer { width: 1fr; }
    DeskHeader > .spark-label { width: auto; padding: 0 1 0 2; color: auto 70%; }
    DeskHeader > Sparkline { width: 24; }
    DeskHeader > #mood-label { width: 12; }
    DeskHeader.-narrow > .spark-label { display: none; }
    DeskHeader.-narrow > Sparkline { width: 10; margin: 0 0 0 2; }
    DeskHeader.flash { background: $error; }
    """
    NARROW = 100

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield Static(id="spacer")
        yield Static("24h volume", classes="spark-label")
        yield Sparkline([], id="volume", min_color="#4a7fb0", max_color="#e8e8e8")
        yield Static("mood", classes="spark-label", id="mood-label")
        yield Sparkline([], id="mood", min_color="#d0453c", max_color="#3fae5a")

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < self.NARROW, "-narrow")

    def show_title(self, title: Text) -> None:
        box = self.query_one("#title", Static)
        # As wide as the title: a relayout only when its width changes, not on every update.
        if box.styles.width is None or box.styles.width.value != title.cell_len:
            box.styles.width = title.cell_len
        box.update(title, layout=False)

    def show_activity(self, volume: Sequence[float], mood: Sequence[float | None]) -> None:
        """Volume per hour, and mood per hour as the mean of P(positive) - P(negative) (red low, green high).

        An hour with no mentions has no mood; it is drawn at the day's average, so it reads as "nothing unusual"
        rather than as a swing to an extreme.
        """
        self.query_one("#volume", Sparkline).data = list(volume)
        known = [m for m in mood if m is not None]
        typical = sum(known) / len(known) if known else 0.0
        self.query_one("#mood", Sparkline).data = [m if m is not None else typical for m in mood]
        # The sparkline scales to its own min and max, so the label gives the absolute figure of the last hour.
        label = f"mood {known[-1]:+.1f}" if known else "mood"
        self.query_one("#mood-label", Static).update(label, layout=False)
