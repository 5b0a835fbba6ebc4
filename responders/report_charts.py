"""The report's charts, drawn by matplotlib (Agg, no display) as SVG to inline in the page and the PDF.

matplotlib is imported inside `draw_charts` only: the desk and `earful --help` never pay for it. Labels can be
text from the internet (entity names, topics), so mathtext is off (`$...$` stays dollars), control characters
are dropped, and matplotlib's SVG writer escapes what is left as XML text. Text stays text (not glyph outlines):
the page is a third the size and prints in half the time.
"""

from __future__ import annotations

import io
import math
import re
import textwrap
import warnings
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any, cast

from responders.report_model import TIERS, Ranked, ReportData, human_duration, network_name
from responders.safe import one_line

SENTIMENT_COLOURS = {
    "negative": "#c0392b",
    "neutral": "#95a5a6",
    "positive": "#27ae60",
    "unscored": "#d5d8dc",
}
NETWORK_COLOURS = {"x": "#3e4c59", "mastodon": "#6364ff", "bluesky": "#1185fe", "reddit": "#ff4500"}
OTHER_COLOURS = ("#f0b429", "#8e44ad", "#16a085", "#d35400")
TIER_COLOURS = {"critical": "#a61b1b", "high": "#e67e22", "normal": "#5d7ea8", "low": "#6fae8f"}
# Where the first-response chart marks its (log) scale: 1 s, 10 s, 1 min, 5 min, 15 min, 1 h, 4 h, 1 d, 1 w.
DURATION_TICKS = (1.0, 10.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0, 604800.0)
CURRENT, PREVIOUS = "#2f6fb0", "#c7d3e0"
LABEL_CHARS = 32

_RC: dict[str, Any] = {
    "text.parse_math": False,
    "svg.fonttype": "none",
    "font.family": ["DejaVu Sans"],
    "font.size": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 9,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "legend.frameon": False,
    "legend.fontsize": 7,
}
_PROLOGUE = re.compile(r"^.*?(?=<svg\b)", re.DOTALL)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)
# matplotlib repeats each label as a comment beside its outlines (escaped, but nobody needs them).
_COMMENT = re.compile(r"<!--.*?-->\s*", re.DOTALL)
_SIZE = re.compile(r'\s(width|height)="[^"]*"')


def label(text: str) -> str:
    return one_line(text, LABEL_CHARS)


def draw_charts(data: ReportData) -> dict[str, str]:
    """Every chart as an SVG element (no XML prologue), keyed by name."""
    import matplotlib

    matplotlib.use("Agg")
    with ExitStack() as stack:
        stack.enter_context(matplotlib.rc_context(cast(Any, _RC)))
        stack.enter_context(warnings.catch_warnings())
        # A label in a script DejaVu lacks (CJK, emoji) draws boxes; that is not worth a warning per glyph.
        warnings.simplefilter("ignore", UserWarning)
        return {
            "volume": _svg("volume", _volume(data)),
            "sentiment": _svg("sentiment", _sentiment(data)),
            "urgency": _svg("urgency", _urgency(data)),
            "response": _svg("response", _response(data)),
            "entities": _svg("entities", _ranked(data.entities, "Top entities", data, "mentions")),
            "topics": _svg("topics", _ranked(data.topics, "Complaint topics", data, "% of complaints")),
        }


def _figure(width: float, height: float) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.subplots()


def _svg(name: str, figure: Any) -> str:
    import matplotlib

    out = io.StringIO()
    # A salt per chart: several SVGs share one page, and their clip-path ids must not collide.
    with matplotlib.rc_context({"svg.hashsalt": f"earful-{name}"}):
        figure.savefig(out, format="svg", metadata={"Date": None, "Creator": None})
    svg = _COMMENT.sub("", _METADATA.sub("", _PROLOGUE.sub("", out.getvalue(), count=1)))
    head, rest = svg.split(">", 1)
    # The page sizes charts with CSS; the viewBox keeps their proportions.
    return f'{_SIZE.sub("", head)} class="chart chart-{name}" role="img">{rest}'


def _title(figure: Any, text: str) -> None:
    """The chart's title from the figure's left edge, wrapped to its width. An axes title starts where the axes
    do, after the tick labels (long entity names), and ran off the figure in the PDF."""
    chars = max(20, int(figure.get_figwidth() * 72 / (_RC["axes.titlesize"] * 0.62)))
    figure.suptitle(
        "\n".join(textwrap.wrap(text, chars)),
        x=0.01,
        ha="left",
        fontsize=_RC["axes.titlesize"],
        fontweight=_RC["axes.titleweight"],
    )


def _periods(figure: Any, handles: list[Any], data: ReportData, marks: tuple[str, str] = ("", "")) -> None:
    """Which mark is which period, under the chart: one column when the two names would not fit on a line."""
    names = [
        label_text(f"{data.period.short} {marks[0]}".strip()),
        label_text(f"{data.previous.short} {marks[1]}".strip()),
    ]
    fits = sum(len(n) for n in names) + 8 <= figure.get_figwidth() * 72 / (7 * 0.6)
    figure.legend(handles, names, loc="outside lower left", ncols=2 if fits else 1, fontsize=7)


def label_text(text: str) -> str:
    return one_line(text, 60)


def _empty(axes: Any, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", color="#9aa5b1", transform=axes.transAxes)
    axes.set_xticks([])
    axes.set_yticks([])


def _day_ticks(axes: Any, data: ReportData) -> list[float]:
    positions = list(range(len(data.days)))
    axes.set_xlim(-0.6, len(positions) - 0.4)  # every day of the period, with mentions or not
    step = max(1, math.ceil(len(positions) / 14))
    axes.set_xticks(positions[::step])
    fmt = "%a %d" if len(positions) <= 14 else "%d %b"
    axes.set_xticklabels([d.day.strftime(fmt) for d in data.days][::step])
    return [float(p) for p in positions]


def network_colour(network: str, index: int) -> str:
    return NETWORK_COLOURS.get(network, OTHER_COLOURS[index % len(OTHER_COLOURS)])


def _volume(data: ReportData) -> Any:
    figure, axes = _figure(7.2, 2.5)
    _title(figure, "Customer mentions per day, by network")
    if not any(d.total for d in data.days):
        _empty(axes, "No customer mentions in this period")
        return figure
    positions = _day_ticks(axes, data)
    bottom = [0.0] * len(data.days)
    for index, network in enumerate(data.networks):
        values = [float(d.networks.get(network, 0)) for d in data.days]
        axes.bar(
            positions,
            values,
            0.65,
            bottom=bottom,
            color=network_colour(network, index),
            label=label(network_name(network)),
        )
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    if len(positions) <= 31:
        for x, total in zip(positions, bottom, strict=True):
            if total:
                axes.annotate(
                    f"{int(total):,}",
                    (x, total),
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    xytext=(0, 2),
                    textcoords="offset points",
                )
    axes.set_ylim(0, max(bottom) * 1.12)
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return figure


def _sentiment(data: ReportData) -> Any:
    figure, axes = _figure(3.5, 2.4)
    _title(figure, "Sentiment per day (% of customer mentions)")
    if not any(d.total for d in data.days):
        _empty(axes, "No customer mentions")
        return figure
    positions = _day_ticks(axes, data)
    for sentiment in ("negative", "neutral", "positive"):
        shares = [100.0 * d.counts[sentiment] / d.total if d.total else math.nan for d in data.days]
        axes.plot(
            positions,
            shares,
            marker="o",
            markersize=3,
            linewidth=1.6,
            color=SENTIMENT_COLOURS[sentiment],
            label=sentiment,
        )
    axes.set_ylim(0, 100)
    axes.legend(loc="upper left", ncols=3, fontsize=6.5)
    axes.tick_params(axis="x", labelsize=6.5)
    return figure


def _urgency(data: ReportData) -> Any:
    figure, axes = _figure(3.5, 2.4)
    _title(figure, "Urgency mix")
    now, before = data.current.urgency, data.prior.urgency
    if not sum(now.values()) and not sum(before.values()):
        _empty(axes, "No customer mentions")
        return figure
    rows = list(reversed(TIERS))
    y = list(range(len(rows)))
    axes.barh(
        [v + 0.2 for v in y], [before[t] for t in rows], 0.38, color=PREVIOUS, label=data.previous.short
    )
    axes.barh(
        [v - 0.2 for v in y],
        [now[t] for t in rows],
        0.38,
        color=[TIER_COLOURS[t] for t in rows],
        label=data.period.short,
    )
    axes.set_yticks(y, rows)
    axes.set_xlabel("customer mentions")
    from matplotlib.patches import Patch

    handles = [Patch(color=TIER_COLOURS["high"]), Patch(color=PREVIOUS)]
    _periods(figure, handles, data, ("(colours)", "(grey)"))
    return figure


def _response(data: ReportData) -> Any:
    figure, axes = _figure(7.2, 2.4)
    _title(figure, "First response by urgency tier: median and p90 (dots: the SLA)")
    tiers = [t for t in TIERS if data.current.tier_response(t).answered]
    if not tiers:
        _empty(axes, "No first response to a thread that started in this period")
        return figure
    medians = [max(1.0, data.current.tier_response(t).median_seconds or 0.0) for t in tiers]
    p90s = [max(1.0, data.current.tier_response(t).p90_seconds or 0.0) for t in tiers]
    budgets = [60.0 * data.sla_minutes.get(t, 0) for t in tiers]
    x = list(range(len(tiers)))
    axes.bar([v - 0.2 for v in x], medians, 0.38, color=[TIER_COLOURS[t] for t in tiers], label="median")
    axes.bar([v + 0.2 for v in x], p90s, 0.38, color=PREVIOUS, label="p90")
    axes.scatter(x, budgets, color="#1f2933", marker="o", s=14, zorder=3, label="SLA")
    axes.set_xticks(x, [f"{t} ({data.current.tier_response(t).answered:,})" for t in tiers])
    # Answers take seconds to days: a log scale shows both, labelled as durations.
    axes.set_yscale("log")
    top = max(medians + p90s + budgets)
    axes.set_ylim(1.0, top * 2)
    axes.set_yticks([v for v in DURATION_TICKS if v <= top * 2], minor=False)
    axes.set_yticklabels([human_duration(v) for v in DURATION_TICKS if v <= top * 2])
    axes.minorticks_off()
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return figure


def _ranked(items: Sequence[Ranked], title: str, data: ReportData, unit: str) -> Any:
    figure, axes = _figure(3.5, 2.6)
    _title(figure, title)
    if not items:
        _empty(axes, "Nothing to rank in this period")
        return figure
    shown = list(reversed(items))
    y = list(range(len(shown)))
    names = [label(f"{r.name} ({r.detail.lower()})" if r.detail else r.name) for r in shown]
    axes.barh(y, [r.current for r in shown], 0.6, color=CURRENT)
    axes.scatter([r.previous for r in shown], y, color="#1f2933", marker="|", s=60, zorder=3)
    axes.set_yticks(y, names, fontsize=6.5)
    # A short list keeps the bar height of a full one instead of one fat bar.
    axes.set_ylim(-0.6, max(len(shown), 6) - 0.4)
    axes.set_xlabel(unit)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    tick = Line2D([], [], color="#1f2933", marker="|", linestyle="none", markersize=8)
    _periods(figure, [Patch(color=CURRENT), tick], data)
    return figure
