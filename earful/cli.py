"""The `earful` command. Heavy imports (torch, Textual, tweepy) happen inside commands, so --help is instant."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from earful.cli_alerts import alerts_app
from earful.cli_common import ConfigOption, echo_json, echo_text, read_store
from earful.cli_report import report

if TYPE_CHECKING:
    from tui.app import EarfulApp

app = typer.Typer(
    name="earful",
    help="A social media listening and response desk for the terminal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def demo(
    config: ConfigOption = None,
    headless: Annotated[
        bool, typer.Option(help="Run the pipeline without the desk; print one JSON line.")
    ] = False,
    mentions: Annotated[int, typer.Option(help="Headless: stop once this many mentions are stored.")] = 200,
    pace: Annotated[float | None, typer.Option(help="Replayed tweets per second.")] = None,
    database: Annotated[
        str | None, typer.Option(help="Database URL (default: a fresh SQLite demo file).")
    ] = None,
) -> None:
    """Replay real customer-support conversations through the whole desk, with no credentials and no network."""
    from earful.demo import run_demo

    result = run_demo(config=config, headless=headless, mentions=mentions, pace=pace, database=database)
    if result is not None:
        echo_json(result)


@app.command()
def tui(
    config: ConfigOption = None,
    thread: Annotated[int | None, typer.Option(help="Open this thread straight away.")] = None,
) -> None:
    """Open the desk on the configured database."""
    from earful.logs import log_to_file
    from store.errors import UserError

    # Without a terminal the desk cannot read a key or draw a screen: it would wait (and spin) forever.
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UserError(
            "earful tui needs a terminal to draw the desk on; run it in one, not with its input or output "
            "redirected (earful status and earful export read the store without one)"
        )
    app = tui_app(config, thread=thread)
    log_to_file("tui")
    app.run()


def tui_app(config: Path | None = None, *, thread: int | None = None) -> EarfulApp:
    """The desk `earful tui` runs: built by the factory the demo uses, with every desk setting ([desk.keys],
    desk.refresh_seconds, leads, the customer tiers) from the configuration."""
    from earful.app import make_desk, make_tui
    from earful.settings import load_settings

    settings = load_settings(config)
    return make_tui(make_desk(settings), settings=settings, open_thread=thread)


@app.command()
def serve(config: ConfigOption = None) -> None:
    """Run the collectors, the classifier and alert delivery against the configured networks until Ctrl-C."""
    from earful.app import serve as run_serve
    from earful.settings import load_settings

    run_serve(load_settings(config), config=config)


@app.command()
def classify(
    config: ConfigOption = None,
    batch_size: Annotated[int, typer.Option(min=1, max=1024)] = 32,
) -> None:
    """Score JSON lines {"text": ...} from stdin; write one JSON line of scores per input.

    A bad line gets {"error": ..., "line": N} in its place and "line N: reason" on stderr; the others are scored
    all the same, and the exit code is then 1.
    """
    from earful.settings import load_settings
    from nlp import Classifier
    from nlp.cli import classify_lines
    from responders.safe import json_line

    settings = load_settings(config)
    classifier = Classifier.load(settings.nlp)
    # Entities quote the input: json_line keeps a C1 control or DEL in it from reaching the terminal raw.
    stats = classify_lines(
        sys.stdin, classifier, sys.stdout, batch_size=batch_size, errors=sys.stderr, dumps=json_line
    )
    if stats.errors:
        raise typer.Exit(1)


@app.command(name="eval")
def evaluate(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Labelled datasets (default: $EARFUL_DATA_DIR, else the shared data folder beside the repository)."
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(help="Only the first N rows of each set (a quick check).")
    ] = None,
    backend: Annotated[
        str, typer.Option(help="onnx (int8, as shipped), onnx-fp32 or torch: to see what quantisation costs.")
    ] = "onnx",
    config: ConfigOption = None,
) -> None:
    """Evaluate the shipped models on the official test splits, with ECE."""
    from earful.settings import load_settings
    from nlp.training.evaluate import run_eval

    choices = {"onnx": ("onnx", True), "onnx-fp32": ("onnx", False), "torch": ("torch", False)}
    if backend not in choices:
        raise typer.BadParameter(f"choose one of {', '.join(choices)}", param_hint="--backend")
    kind, quantize = choices[backend]
    settings = load_settings(config).nlp.model_copy(update={"backend": kind, "quantize": quantize})
    figures = run_eval(data, limit=limit, settings=settings)
    if as_json:
        typer.echo(json.dumps(figures))
    else:
        typer.echo(json.dumps(figures, indent=2))


@app.command()
def train(
    data: Annotated[
        Path | None,
        typer.Option(
            help="Labelled datasets (default: $EARFUL_DATA_DIR, else the shared data folder beside the repository)."
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Where the model goes (default: nlp/artifacts).")] = None,
    seed: Annotated[int, typer.Option()] = 13,
    cv: Annotated[
        bool,
        typer.Option(
            "--cv",
            help="10-fold cross-validation of complaint and severity (the papers' protocol); writes cv.json.",
        ),
    ] = False,
) -> None:
    """Fine-tune the model (LoRA adapters + heads), seeded, from the labelled datasets. About 1 h on 2 cores."""
    from nlp.training.multitask import main as run_train

    argv = (
        ["--seed", str(seed)] + (["--data", str(data)] if data else []) + (["--out", str(out)] if out else [])
    )
    raise typer.Exit(run_train(argv + (["--cv"] if cv else [])))


@app.command()
def status(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object, for scripts.")] = False,
) -> None:
    """Each source's health: streaming, backfilling, rate-limited until T, failing and why, last event."""
    from earful.ops import print_status, status_report
    from earful.settings import load_settings

    store = read_store(load_settings(config).database.url)
    report = status_report(store)
    if as_json:
        echo_json(report)
        return
    # Source names, states and server-supplied details are stored text: printed through the one cleaner.
    shown = io.StringIO()
    print_status(report, shown)
    echo_text(shown.getvalue().removesuffix("\n"))


@app.command()
def listen(
    config: ConfigOption = None,
    until_idle: Annotated[
        float | None,
        typer.Option(
            help="Stop after this many seconds with no new event (default: run until Ctrl-C).", min=0.1
        ),
    ] = None,
) -> None:
    """Run the configured collectors and the pipeline (no desk); print the run's figures as JSON at the end."""
    from earful.logs import log_to_stderr
    from earful.ops import listen as run_listen
    from earful.settings import load_settings
    from store import Store

    settings = load_settings(config)
    if not settings.brands:
        raise typer.BadParameter("no brands configured: add a [[brands]] section to earful.toml")
    log_to_stderr()
    store = Store(settings.database.url)
    store.migrate()
    echo_json(run_listen(settings, store, until_idle=until_idle))


@app.command()
def worker(
    config: ConfigOption = None,
    until_idle: Annotated[
        float | None, typer.Option(help="Stop after this many seconds with nothing to do.", min=0.1)
    ] = None,
) -> None:
    """Classify and store mentions from the NATS JetStream bus; run as many as the load needs."""
    from earful.logs import log_to_stderr
    from earful.ops import listen as run_listen
    from earful.settings import load_settings
    from store import Store

    settings = load_settings(config)
    log_to_stderr()
    store = Store(settings.database.url)
    store.migrate()
    echo_json(run_listen(settings, store, until_idle=until_idle, worker=True))


app.command()(report)
app.add_typer(alerts_app, name="alerts")

export_app = typer.Typer(help="Write stored data out for other tools.", no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("mentions")
def export_mentions(
    config: ConfigOption = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl (one JSON object per line) or csv.")] = "jsonl",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
) -> None:
    """Every stored mention: network, native id, thread, author handle, text and scores."""
    from earful.ops import export_mentions as run_export
    from earful.settings import load_settings
    from store.private import private_output

    if fmt not in ("jsonl", "csv"):
        raise typer.BadParameter(f"unknown format {fmt!r}; use jsonl or csv", param_hint="--format")
    store = read_store(load_settings(config).database.url)
    if output is None:
        count = run_export(store, sys.stdout, fmt)
    else:
        # Customer data: the file is the owner's only (store.private), and whole or not there at all.
        with private_output(output, encoding="utf-8", newline="") as out:
            count = run_export(store, out, fmt)
        typer.echo(f"{count} mentions written to {output}", err=True)


@app.command()
def quarantine(
    config: ConfigOption = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
) -> None:
    """List what the networks sent that could not be parsed, with the reason."""
    from earful.settings import load_settings
    from store.quarantine import list_quarantined

    store = read_store(load_settings(config).database.url)
    with store.read() as session:
        for item in list_quarantined(session=session, limit=limit):
            # The reason quotes what the network sent (an id, a field): shown, never run by the terminal.
            preview = item.raw[:120].decode("utf-8", "replace").encode("unicode_escape").decode("ascii")
            head = f"{item.received_at:%Y-%m-%d %H:%M:%S} {item.network} {item.source}: {item.reason}"
            echo_text(head, one_line=True)
            echo_text(f"    {preview}")


customers_app = typer.Typer(help="Customer records: import from a CRM, export for one.", no_args_is_help=True)
app.add_typer(customers_app, name="customers")

# Below this many rows an import is over before a progress line would help.
_PROGRESS_FROM_ROWS = 2000


@customers_app.command("import")
def import_customers(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV (UTF-8) with columns external_id,name,email,tier,tags,notes,x,mastodon,bluesky,reddit."
        ),
    ],
    config: ConfigOption = None,
) -> None:
    """Create or update customer records from a CRM export and link the accounts it names."""
    from earful.settings import load_settings
    from nlp.training.cache import Progress
    from responders.crm import CrmFileError, lines
    from responders.customers import CustomerBook
    from store import Store

    settings = load_settings(config)
    store = Store(settings.database.url)
    store.migrate()
    meter: list[Progress] = []

    def progress(done: int, total: int) -> None:
        if total >= _PROGRESS_FROM_ROWS:
            if not meter:
                meter.append(Progress(file.name, total, verb="importing", unit=" rows", every=2.0))
            meter[0](done)

    try:
        result = CustomerBook(store, settings.desk.responder).import_csv(file, progress=progress)
    except CrmFileError as exc:
        echo_text(f"earful: {exc}", err=True)
        sys.exit(1)
    summary, *rejected = lines(result)
    typer.echo(summary)
    # Each reason quotes its cell: a CSV cannot recolour or retitle the terminal.
    for line in rejected:
        echo_text(line, err=True, one_line=True)
    if result.rejected and not (result.created or result.updated or result.linked):
        sys.exit(1)


@customers_app.command("export")
def export_customers(
    config: ConfigOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
) -> None:
    """Every customer record as CSV, in the columns `earful customers import` reads."""
    from earful.settings import load_settings
    from responders.customers import CustomerBook
    from store.private import private_output

    settings = load_settings(config)
    book = CustomerBook(read_store(settings.database.url), settings.desk.responder)
    if output is None:
        book.export_csv(sys.stdout)
        return
    with private_output(output, encoding="utf-8", newline="") as out:
        count = book.export_csv(out)
    typer.echo(f"{count} customers written to {output}", err=True)
