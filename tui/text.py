"""Showing text from the internet: always literal, never markup, never a terminal escape."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.text import Text

from store.text import printable


def clean(text: str, *, one_line: bool = False) -> str:
    """`text` as the desk shows it: every control character, ESC, DEL, C1 control and bidi override shown as a
    visible sign (store.text.printable), never acted on by the terminal."""
    return printable(text, one_line=one_line)


def literal(text: str, style: str = "", *, one_line: bool = False) -> Text:
    """A Rich Text that displays `text` exactly: `[bold]` stays `[bold]`."""
    return Text(clean(text, one_line=one_line), style=style, no_wrap=one_line, overflow="ellipsis")


TIER_STYLES = {
    "critical": "bold white on red",
    "high": "bold black on dark_orange",
    "normal": "black on yellow",
    "low": "white on grey37",
}

# Neutral is the terminal's own colour: a fixed grey is unreadable on a light theme.
SENTIMENT_STYLES = {"negative": "red", "neutral": "", "positive": "green"}


def tier_badge(tier: str) -> Text:
    return Text(f" {tier.upper():<8} ", style=TIER_STYLES.get(tier, ""))


TIER_SHORT = {"critical": "CRIT", "high": "HIGH", "normal": "NORM", "low": "LOW"}


def urgency_badge(tier: str, urgency: int) -> Text:
    """` CRIT  91 `: the tier in its colour and the score, in the width of one column."""
    return Text(
        f" {TIER_SHORT.get(tier, tier[:4].upper()):<4} {urgency:>3} ", style=TIER_STYLES.get(tier, "")
    )


def span(seconds: float) -> str:
    """'45s', '12m', '3h', '2d': a duration in the fewest characters that stay honest."""
    seconds = max(0, int(seconds))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return ""
    return span(((now or datetime.now(UTC)) - moment).total_seconds())


def time_left(due: datetime | None, now: datetime | None = None) -> Text:
    """SLA clock: time left, or how late, in red once it has passed."""
    if due is None:
        return Text("")
    seconds = (due - (now or datetime.now(UTC))).total_seconds()
    if seconds < 0:
        return Text(f"-{span(-seconds)}", style="bold red")
    return Text(span(seconds), style="dark_orange" if seconds < 300 else "")


def why(explanation: list[str], risks: list[str]) -> Text:
    """`why "never arrived" · "worst"  risk legal · churn`: what pushed urgency up, each phrase literal (they
    are the mention's own words, so `[bold]` in one stays `[bold]`). Empty when there is nothing to say."""
    text = Text()
    if explanation:
        text.append("why ", style="dim")
        for i, phrase in enumerate(explanation):
            if i:
                text.append(" · ", style="dim")
            text.append('"', style="dim")
            text.append_text(literal(phrase, "italic", one_line=True))
            text.append('"', style="dim")
    if risks:
        text.append("  risk " if explanation else "risk ", style="dim")
        for i, risk in enumerate(risks):
            if i:
                text.append(" · ", style="dim")
            text.append_text(literal(risk, "bold red", one_line=True))
    return text


def notify_literal(
    target: Any, message: str, *, severity: str = "information", timeout: float | None = None
) -> None:
    """A toast that shows `message` as written: a network's error text holding `[/]` or `[link=...]` is not
    Textual markup (which would raise and take the desk down) and its control characters are shown, not run.

    `target` is the app or a screen; every notification of the desk goes through here.
    """
    target.notify(clean(message), severity=severity, timeout=timeout, markup=False)


def plural(n: int, one: str, many: str | None = None) -> str:
    """`1 thread`, `3 threads`, `1,204 threads`: every count the desk says, in words that agree with it."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def compact_count(n: int) -> str:
    """`7`, `950`, `1.2k`, `41k`, `1.3M`: a count in at most four characters, for the narrow view strip."""
    if n < 1000:
        return str(n)
    size, unit = (1_000_000, "M") if n >= 1_000_000 else (1000, "k")
    tenths = n * 10 // size  # rounded down: a count never reads as more than there is
    return f"{tenths // 10}.{tenths % 10}{unit}" if tenths < 100 else f"{n // size}{unit}"


def handle_text(network: str, handle: str) -> str:
    """A handle as its network writes it: `u/name` on Reddit, `@name` elsewhere (`@name@instance` on Mastodon)."""
    if not handle:
        return ""
    if network == "reddit":
        return handle if handle.startswith("u/") else f"u/{handle}"
    return handle if handle.startswith("@") else f"@{handle}"
