"""The report as one self-contained HTML page: inline CSS and SVG, no script, nothing fetched. WeasyPrint prints
the same page to report.pdf (A4, numbered pages), so its print CSS lives here too.

Every string that came from the internet (names, handles, mention text, entities) goes through `_e`: html.escape
with quotes, after dropping control characters. A Content-Security-Policy forbids scripts and remote loads as
well, so a slip in escaping still could not run anything. The charts are matplotlib's SVG with text drawn as
outlines (see report_charts), so they carry no text that could be markup.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

from responders.report_model import (
    TIERS,
    Change,
    Good,
    Kind,
    ReportData,
    ThreadRow,
    change,
    human_duration,
    network_name,
)
from responders.report_period import Period
from responders.safe import one_line, strip_controls

MESSAGE_CHARS = 160

_CSS = """
body { font: 14px/1.45 "DejaVu Sans", system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2933;
       margin: 2rem auto; max-width: 72rem; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.1rem; margin: 1.6rem 0 .5rem; }
.sub { color: #616e7c; margin-top: 0; }
.figures { display: flex; gap: .6rem; flex-wrap: wrap; margin: 1rem 0; }
.figure { box-sizing: border-box; border: 1px solid #d9e2ec; border-radius: 6px; padding: .5rem .8rem;
          width: 10.5rem; }
.figure b { display: block; font-size: 1.45rem; }
.figure span { display: block; color: #616e7c; font-size: .8rem; }
.better { color: #1e7b3c; } .worse { color: #b42318; } .same { color: #7b8794; }
.figure .change { font-size: .75rem; }
.charts { display: flex; gap: 1rem; flex-wrap: wrap; }
.chart { width: 100%; height: auto; }
.half { flex: 1 1 20rem; min-width: 0; }
.half .chart { width: 100%; }
table { border-collapse: collapse; width: 100%; font-size: .85rem; }
th, td { text-align: left; padding: .3rem .45rem; border-bottom: 1px solid #e4e7eb; vertical-align: top; }
th { background: #f5f7fa; }
thead { display: table-header-group; }
td.num, th.num { text-align: right; white-space: nowrap; overflow-wrap: normal; }
table.fixed { table-layout: fixed; font-size: .8rem; }
td.msg { overflow-wrap: anywhere; }
td .change { display: block; font-size: .75rem; }
.tier-critical { color: #a61b1b; font-weight: 600; }
.tier-high { color: #b7590b; font-weight: 600; }
.note { color: #616e7c; font-size: .8rem; }
footer { margin-top: 2rem; color: #9aa5b1; font-size: .8rem; }
@page { size: A4; margin: 14mm 12mm 16mm 12mm;
        @bottom-right { content: "Page " counter(page) " of " counter(pages); font: 8pt "DejaVu Sans", sans-serif;
                        color: #7b8794; } }
@media print {
  body { margin: 0; max-width: none; padding: 0; font-size: 9pt; }
  h1 { font-size: 17pt; margin-top: 0; }
  h2 { font-size: 12pt; break-after: avoid; }
  .figures { gap: 2.5mm; }
  .figure { width: 44mm; padding: 2mm 3mm; }
  .figure b { font-size: 15pt; }
  .half { flex: 1 1 85mm; }
  .chart, tr { break-inside: avoid; }
}
"""


def _e(value: object) -> str:
    return html.escape(strip_controls(str(value)), quote=True)


def _duration(seconds: float | None) -> str:
    return "–" if seconds is None else human_duration(seconds)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}%"


def _change_span(delta: Change) -> str:
    return f'<span class="change {delta.tone}">{_e(delta.text)}</span>' if delta.text else ""


def headline(data: ReportData) -> list[tuple[str, str, Change]]:
    """The figures at the top, each as (value, what it is, its change against the previous period)."""
    now, before, vs = data.current, data.prior, data.previous.short
    all_now, all_before = now.tier_response("all"), before.tier_response("all")

    def figure(value: str, what: str, a: float | None, b: float | None, kind: Kind, good: Good) -> tuple:
        return value, what, change(a, b, kind=kind, good=good, vs=vs)

    return [
        figure(f"{now.mentions:,}", "customer mentions", now.mentions, before.mentions, "count", "either"),
        figure(f"{now.complaints:,}", "complaints", now.complaints, before.complaints, "count", "down"),
        figure(
            _percent(now.negative_percent),
            "negative",
            now.negative_percent,
            before.negative_percent,
            "share",
            "down",
        ),
        figure(f"{now.threads:,}", "active threads", now.threads, before.threads, "count", "either"),
        figure(
            _duration(all_now.median_seconds),
            "median first response",
            all_now.median_seconds,
            all_before.median_seconds,
            "duration",
            "down",
        ),
        figure(
            _duration(all_now.p90_seconds),
            "p90 first response",
            all_now.p90_seconds,
            all_before.p90_seconds,
            "duration",
            "down",
        ),
        figure(
            _percent(all_now.sla_met_percent),
            "SLA met",
            all_now.sla_met_percent,
            all_before.sla_met_percent,
            "share",
            "up",
        ),
        figure(f"{now.brand_posts:,}", "brand posts", now.brand_posts, before.brand_posts, "count", "either"),
    ]


def render_report(data: ReportData, charts: dict[str, str]) -> str:
    figures = "\n".join(
        f'<div class="figure"><b>{_e(value)}</b><span>{_e(what)}</span>{_change_span(delta)}</div>'
        for value, what, delta in headline(data)
    )
    period, previous = data.period, data.previous
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>earful {_e(period.title)}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>{_e(period.title)}</h1>
<p class="sub">{_e(period.describe())}; changes against {_e(compared_with(previous))}.</p>
<section class="figures">
{figures}
</section>
<section class="charts">
{charts["volume"]}
<div class="half">{charts["sentiment"]}</div>
<div class="half">{charts["urgency"]}</div>
</section>
<section>
<h2>First response and SLA</h2>
{charts["response"]}
{response_table(data)}
<h2>Responders</h2>
{responder_table(data)}
<h2>Saved replies</h2>
{template_table(data)}
</section>
<section>
<h2>Entities and complaint topics</h2>
<section class="charts">
<div class="half">{charts["entities"]}</div>
<div class="half">{charts["topics"]}</div>
</section>
<p class="note">{_e(topic_note(data))}</p>
<h2>Customers with the most complaints</h2>
{complainer_table(data)}
<h2>Most urgent threads</h2>
{urgent_table(data.urgent)}
</section>
<footer>Generated by earful on {data.generated_at:%Y-%m-%d %H:%M} UTC. Every thread of the period is in threads.csv
({data.thread_rows:,} rows), every mention in mentions.csv ({data.mention_rows:,} rows).</footer>
</body>
</html>
"""


def _table(
    head: Sequence[tuple[str, str]], rows: Iterable[Sequence[str]], empty: str, widths: Sequence[int] = ()
) -> str:
    """`head`: (title, CSS class of the column: "", "num" or "msg"); `rows`: cells already escaped; `widths`:
    per cent of the width per column (a fixed layout), or none (sized by content)."""

    def cell(tag: str, content: str, css: str) -> str:
        return f'<{tag} class="{css}">{content}</{tag}>' if css else f"<{tag}>{content}</{tag}>"

    body = [
        "<tr>" + "".join(cell("td", c, css) for c, (_t, css) in zip(row, head, strict=True)) + "</tr>"
        for row in rows
    ]
    if not body:
        return f"<p>{_e(empty)}</p>"
    titles = "".join(cell("th", _e(t), css) for t, css in head)
    columns = "".join(f'<col style="width: {int(w)}%">' for w in widths)
    opening = f'<table class="fixed">\n<colgroup>{columns}</colgroup>' if widths else "<table>"
    return (
        f"{opening}\n<thead><tr>{titles}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>"
    )


def response_table(data: ReportData) -> str:
    vs = data.previous.short
    rows = []
    for tier in (*TIERS, "all"):
        now, before = data.current.tier_response(tier), data.prior.tier_response(tier)
        if not (now.answered or now.met or now.missed or now.waiting):
            continue
        budget = data.sla_minutes.get(tier)
        median = change(now.median_seconds, before.median_seconds, kind="duration", good="down", vs=vs)
        met = change(now.sla_met_percent, before.sla_met_percent, kind="share", good="up", vs=vs)
        rows.append(
            (
                f"<b>{_e(tier)}</b>" if tier == "all" else _e(tier),
                f"{now.answered:,}",
                f"{_e(_duration(now.median_seconds))} {_change_span(median)}",
                _e(_duration(now.p90_seconds)),
                _e(human_duration(budget * 60)) if budget else "",
                f"{_e(_percent(now.sla_met_percent))} {_change_span(met)}",
                f"{now.missed:,}",
                f"{now.waiting:,}",
            )
        )
    head = [
        ("Tier", ""),
        ("Answered", "num"),
        ("Median", "num"),
        ("p90", "num"),
        ("SLA", "num"),
        ("SLA met", "num"),
        ("Missed", "num"),
        ("Waiting", "num"),
    ]
    note = "No thread started in this period."
    return _table(head, rows, note) + (
        '<p class="note">Threads whose first customer message came in the period. Missed: answered after the '
        "tier's SLA, or still unanswered past it; waiting: unanswered, still within it.</p>"
    )


def responder_table(data: ReportData) -> str:
    vs = data.previous.short
    rows = [
        (
            _e(r.name),
            f"{r.threads:,} {_change_span(change(r.threads, r.previous_threads, kind='count', good='either', vs=vs))}",
            f"{r.replies:,}",
            f"{_e(_duration(r.median_seconds))} "
            + _change_span(
                change(r.median_seconds, r.previous_median_seconds, kind="duration", good="down", vs=vs)
            ),
        )
        for r in data.responders
    ]
    head = [
        ("Responder", ""),
        ("Threads handled", "num"),
        ("Replies sent", "num"),
        ("Median response", "num"),
    ]
    return _table(head, rows, "No reply was sent from earful in this period.")


def template_table(data: ReportData) -> str:
    vs = data.previous.short
    rows = [
        (
            _e(r.name) if r.name else '<span class="same">typed, no saved reply</span>',
            f"{int(r.current):,} {_change_span(change(r.current, r.previous, kind='count', good='either', vs=vs))}",
        )
        for r in data.templates
    ]
    return _table(
        [("Saved reply", ""), ("Used", "num")], rows, "No reply was sent from earful in this period."
    )


def compared_with(previous: Period) -> str:
    """The period before, as the subtitle names it: a week by its number and days, a range by its span."""
    if previous.is_week:
        return f"{previous.name} ({previous.describe()})"
    return f"the period as long just before it, {previous.describe()}"


def topic_note(data: ReportData) -> str:
    if not data.topics_read:
        return "No complaint in this period to find topics in."
    sampled = data.topics_read < data.current.complaints
    basis = f"an even sample of {data.topics_read:,}" if sampled else f"all {data.topics_read:,}"
    return (
        "Topics: the hashtags, words and two-word phrases that complaints use more than other mentions do, as "
        f"the share of complaints using them, over {basis} complaints."
    )


def complainer_table(data: ReportData) -> str:
    vs = data.previous.short
    rows = [
        (
            _e(c.name or "(no name)"),
            _e(c.handles),
            f"{c.complaints:,} {_change_span(change(c.complaints, c.previous, kind='count', good='down', vs=vs))}",
        )
        for c in data.complainers
    ]
    head = [("Customer", ""), ("Accounts", ""), ("Complaints", "num")]
    return _table(head, rows, "No complaint in this period.")


def urgent_table(rows: list[ThreadRow]) -> str:
    if not rows:
        return "<p>No thread had any activity this period.</p>"
    cells = []
    for r in rows:
        who = r.customer + (f" (@{r.handle})" if r.handle else "")
        tier = f'<span class="tier-{_e(r.tier)}">{r.urgency} {_e(r.tier)}</span>'
        cells.append(
            (
                str(r.thread_id),
                _e(who),
                _e(network_name(r.network)),
                tier,
                _e(r.status),
                _e(r.assignee),
                _e(one_line(r.first_message, MESSAGE_CHARS)),
                _e(r.first_response),
            )
        )
    head = [
        ("Thread", "num"),
        ("Customer", "msg"),
        ("Network", ""),
        ("Urgency", ""),
        ("Status", ""),
        ("Assignee", "msg"),
        ("First message", "msg"),
        ("First reply", "num"),
    ]
    return _table(head, cells, "", widths=(9, 15, 10, 10, 9, 12, 25, 10))
