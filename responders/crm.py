"""CRM CSV import and export for the customer book.

Columns: external_id,name,email,tier,tags,notes,x,mastodon,bluesky,reddit (any subset, any order; tags and handles
';'-separated; '@' optional). UTF-8 with or without a BOM. A row updates the record with its external id, else
the live record with its e-mail, else (a row with neither, as exported for records earful created) the one record
already holding all its handles; otherwise it creates one. Its handles link the identities we know (an undoable
CustomerMerge when one moves from another record); the others go to `crm_handles`, so that when such an account
writes to us, its new record is suggested for a merge.
Empty cells never erase anything; tags add up; notes are appended unless already there (the desk's own notes
are never lost to a CRM that does not know them). A bad row is rejected with its line number and reason; the
rows around it are imported all the same.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session

from responders.customers import (
    LIMITS,
    ImportResult,
    check_length,
    clean_email,
    clean_handle,
    clean_name,
    clean_notes,
    clean_tags,
    clean_tier,
)
from responders.safe import csv_safe, one_line, strip_controls
from store import Store
from store.customers import (
    crm_handle,
    customers_listing,
    find_by_email,
    find_by_external_id,
    identities_with_handles,
    live,
    live_customers,
    move_identity,
    split_crm_handle,
)
from store.customers import export_rows as stored_rows
from store.models import Customer, Identity

NETWORKS = ("x", "mastodon", "bluesky", "reddit")
COLUMNS = ("external_id", "name", "email", "tier", "tags", "notes", *NETWORKS)
# Rows per transaction: a big file never holds the database's write lock for long (the pipeline writes too).
CHUNK = 200
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class CrmFileError(ValueError):
    """The file as a whole cannot be imported (missing, not UTF-8, a bad header); the message names the fix."""


@dataclass
class CrmRow:
    line: int
    external_id: str | None = None
    name: str = ""
    email: str | None = None
    tier: str | None = None
    tags: list[str] = field(default_factory=list)
    notes: str = ""
    handles: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class CrmFile:
    columns: list[str]
    rows: list[tuple[int, list[str]]]
    # Lines that are no CSV row (a cell over the csv module's limit, a quote never closed), with the reason:
    # reported beside the rows that could not be imported, while every row around them is imported.
    unreadable: list[tuple[int, str]] = field(default_factory=list)


def read_crm_csv(source: Path | TextIO) -> CrmFile:
    name = str(source) if isinstance(source, Path) else getattr(source, "name", "the CSV")
    try:
        content = source.read_text(encoding="utf-8-sig") if isinstance(source, Path) else source.read()
    except FileNotFoundError as exc:
        raise CrmFileError(f"{name}: no such file. Fix: check the path") from exc
    except IsADirectoryError as exc:
        raise CrmFileError(f"{name} is a directory. Fix: name the CSV file inside it") from exc
    except PermissionError as exc:
        raise CrmFileError(f"{name}: permission denied. Fix: make it readable (chmod +r)") from exc
    except UnicodeDecodeError as exc:
        raise CrmFileError(
            f"{name} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}). "
            "Fix: save it as 'CSV UTF-8' from the spreadsheet or the CRM"
        ) from exc
    lines = io.StringIO(content.removeprefix("\ufeff"), newline="").readlines()
    if not lines:
        raise CrmFileError(f"{name} is empty. Fix: start it with the header line {','.join(COLUMNS)}")
    try:
        header, at = _record(lines, 0, width=0)
    except csv.Error as exc:
        raise CrmFileError(f"{name} line 1: {_why(exc)}. Fix: check the quoting of the header line") from exc
    if not header:
        raise CrmFileError(f"{name} is empty. Fix: start it with the header line {','.join(COLUMNS)}")
    columns = _columns(header, name)
    rows: list[tuple[int, list[str]]] = []
    unreadable: list[tuple[int, str]] = []
    while at < len(lines):
        try:
            cells, end = _record(lines, at, width=len(columns))
        except csv.Error as exc:
            # Put aside alone, and the next line read as a row of its own; but a cell too long for the csv module
            # is a whole quoted cell, put aside with every line it spans (they are no rows of their own).
            end = _quoted_end(lines, at) if "field limit" in str(exc) else at + 1
            reason = _why(exc) if end == at + 1 else f"{_why(exc)} (lines {at + 1} to {end}, one cell)"
            unreadable.append((at + 1, reason))
            at = end
            continue
        if any(cell.strip() for cell in cells):
            rows.append((at + 1, cells))
        at = end
    return CrmFile(columns, rows, unreadable)


def _record(lines: list[str], at: int, *, width: int) -> tuple[list[str], int]:
    """The cells of the record starting at line `at` and the line after it; csv.Error if none starts there.

    Strict, so a quote that is never closed is an error instead of silently swallowing the rest of the file. A
    quoted cell may hold line breaks (notes, a name), but a line inside it with a row's worth of commas (`width`
    cells) is a row swallowed by a stray quote: the record is refused, and the lines after its first are read
    again as rows of their own.
    """
    reader = csv.reader((lines[i] for i in range(at, len(lines))), strict=True)
    cells = next(reader, [])
    end = at + reader.line_num
    if end - at > 1 and width > 1:
        inner = (line for cell in cells for line in cell.splitlines()[1:])
        if any(line.count(",") >= width - 1 for line in inner):
            raise csv.Error(
                f"a quote opened on this line is closed only on line {end}, taking the lines between"
            )
    return cells, end


def _quoted_end(lines: list[str], at: int) -> int:
    """The line after the record starting at `at`, told by its quotes alone: it ends at the first line end with
    an even number of quotes behind it (a quote inside a cell is written twice). `at + 1` if none does."""
    quotes = 0
    for i in range(at, len(lines)):
        quotes += lines[i].count('"')
        if quotes % 2 == 0:
            return i + 1
    return at + 1


def _why(exc: csv.Error) -> str:
    reason = str(exc)
    if "field larger than field limit" in reason:
        return (
            f"a cell is over {csv.field_size_limit():,} characters; no column holds that much "
            f"(notes take up to {LIMITS['notes']:,})"
        )
    if "unexpected end of data" in reason:
        return "a quote opened on this line is never closed"
    if "expected after" in reason:
        return "text after a closing quote: a quoted cell ends at its quote (a quote inside a cell is written twice)"
    return reason


def _columns(header: list[str], name: str) -> list[str]:
    columns = [cell.strip().lower() for cell in header]
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown:
        shown = ", ".join(repr(one_line(c, 40)) for c in unknown)
        raise CrmFileError(
            f"{name}: unknown column {shown} in the header. Fix: use the columns {','.join(COLUMNS)}"
        )
    doubled = sorted({c for c in columns if columns.count(c) > 1})
    if doubled:
        raise CrmFileError(f"{name}: column {', '.join(doubled)} appears twice in the header. Fix: keep one")
    if "name" not in columns and "email" not in columns:
        raise CrmFileError(f"{name}: the header has neither name nor email. Fix: add at least one of them")
    return columns


def parse_row(line: int, columns: list[str], cells: list[str]) -> CrmRow:
    """One CSV row, cleaned; ValueError says what is wrong with it."""
    if len(cells) > len(columns):
        raise ValueError(
            f"{len(cells)} cells but the header has {len(columns)} columns: quote cells with commas"
        )
    values = {column: _from_cell(cell) for column, cell in zip(columns, cells, strict=False)}
    row = CrmRow(line)
    row.external_id = check_length("external_id", one_line(values.get("external_id", ""))) or None
    row.name = clean_name(values.get("name", ""))
    row.email = clean_email(values.get("email", ""))
    if not row.name and not row.email:
        raise ValueError("missing name and e-mail: a row needs at least one of them")
    row.tier = clean_tier(values["tier"]) if values.get("tier", "").strip() else None
    row.tags = clean_tags(values.get("tags", "").split(";"))
    row.notes = clean_notes(values.get("notes", ""))
    for network in NETWORKS:
        for handle in values.get(network, "").split(";"):
            if handle.strip() and handle.strip() != "@":
                row.handles.append((network, clean_handle(handle)))
    return row


def _from_cell(cell: str) -> str:
    # Undo what an export's csv_safe did ("'=SUM" was "=SUM"), so export -> import gives the same text back.
    if cell.startswith("'") and cell[1:2] and cell[1] in _FORMULA_STARTS:
        cell = cell[1:]
    return strip_controls(cell)


def import_rows(
    store: Store, responder: str, crm: CrmFile, *, progress: Callable[[int, int], None] | None = None
) -> ImportResult:
    result = ImportResult()
    result.rejected.extend(crm.unreadable)
    total = len(crm.rows)
    for start in range(0, total, CHUNK):
        rows: list[CrmRow] = []
        for line, cells in crm.rows[start : start + CHUNK]:
            try:
                rows.append(parse_row(line, crm.columns, cells))
            except ValueError as exc:
                result.rejected.append((line, str(exc)))
        with store.write() as session:
            known = _Known(rows, session=session)
            for row in rows:
                try:
                    with session.begin_nested():
                        outcome, linked = _upsert(row, responder, known, session=session)
                except ValueError as exc:
                    result.rejected.append((row.line, str(exc)))
                    continue
                except (DataError, IntegrityError) as exc:
                    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
                    result.rejected.append((row.line, f"the database refused it: {one_line(reason, 200)}"))
                    continue
                result.created += outcome == "created"
                result.updated += outcome == "updated"
                result.linked += linked
        if progress is not None:
            progress(min(start + CHUNK, total), total)
    result.rejected.sort()
    return result


class _Known:
    """The accounts a chunk's rows name, read once per chunk: handles are compared case-insensitively, which no
    index serves, so one lookup per row would make a big import quadratic in the number of identities."""

    def __init__(self, rows: list[CrmRow], *, session: Session) -> None:
        handles = {handle.lower() for row in rows for _, handle in row.handles}
        self.identities: dict[tuple[str, str], Identity] = {}
        for identity in identities_with_handles(handles, session=session):
            self.identities.setdefault((identity.network, identity.handle.lower()), identity)
        # Only rows with neither external id nor e-mail are matched by CRM handles (see _sole_holder).
        anonymous = {
            crm_handle(*pair) for row in rows if not row.external_id and not row.email for pair in row.handles
        }
        self.listed: dict[str, set[int]] = {}
        for customer_id, entries in customers_listing(anonymous, session=session).items():
            for entry in entries:
                self.listed.setdefault(entry, set()).add(customer_id)

    def identity(self, network: str, handle: str) -> Identity | None:
        return self.identities.get((network, handle.lower()))

    def holders(self, network: str, handle: str) -> set[int]:
        identity = self.identity(network, handle)
        owners = (
            {identity.customer_id} if identity is not None and identity.customer_id is not None else set()
        )
        return owners | self.listed.get(crm_handle(network, handle), set())


def _upsert(row: CrmRow, responder: str, known: _Known, *, session: Session) -> tuple[str, int]:
    customer = find_by_external_id(row.external_id, session=session) if row.external_id else None
    if customer is None and row.email:
        customer = find_by_email(row.email, session=session, external_id=row.external_id)
    if customer is None and not row.external_id and not row.email:
        customer = _sole_holder(row.handles, known, session=session)
    outcome = "created" if customer is None else "unchanged"
    if customer is None:
        customer = Customer(display_name=row.name or row.email or "")
    if _apply(row, customer) and outcome != "created":
        outcome = "updated"
    session.add(customer)
    session.flush()
    assert customer.id is not None
    # A record merged away since: its handles belong with the record it was merged into.
    target = live(customer.id, session=session) or customer
    linked = 0
    for network, handle in row.handles:
        identity = known.identity(network, handle)
        owner = session.get(Customer, identity.customer_id) if identity and identity.customer_id else None
        # Another CRM contact's account is never taken: the handle is remembered and a merge is suggested.
        if identity is None or (owner is not None and owner.id != target.id and owner.external_id):
            entry = crm_handle(network, handle)
            if entry not in target.crm_handles:
                target.crm_handles = [*target.crm_handles, entry]
                session.add(target)
                assert target.id is not None
                known.listed.setdefault(entry, set()).add(target.id)
                outcome = "updated" if outcome == "unchanged" else outcome
        elif identity.customer_id != target.id:
            move_identity(identity, target, responder=responder, session=session)
            linked += 1
    return outcome, linked


def _apply(row: CrmRow, customer: Customer) -> bool:
    notes = customer.notes
    if row.notes and row.notes not in notes:
        notes = check_length("notes", f"{notes}\n\n{row.notes}" if notes else row.notes)
    fields = {
        "display_name": row.name or customer.display_name or row.email or "",
        "email": row.email or customer.email,
        "external_id": customer.external_id or row.external_id,
        "tier": row.tier or customer.tier,
        "tags": clean_tags([*customer.tags, *row.tags]),
        "notes": notes,
    }
    changed = any(getattr(customer, name) != value for name, value in fields.items())
    for name, value in fields.items():
        setattr(customer, name, value)
    return changed


def _sole_holder(handles: list[tuple[str, str]], known: _Known, *, session: Session) -> Customer | None:
    """The one live record (earful's own, no external id) that already has every one of these handles."""
    if not handles:
        return None
    common = set.intersection(*(known.holders(network, handle) for network, handle in handles))
    records = [c for c in live_customers(common, session=session).values() if not c.external_id]
    return records[0] if len(records) == 1 else None


def export_rows(store: Store, out: TextIO) -> int:
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    count = 0
    with store.read() as session:
        for customer, identities in stored_rows(session=session):
            handles: dict[str, list[str]] = {network: [] for network in NETWORKS}
            known = [(i.network, i.handle) for i in identities if i.handle]
            for network, handle in [*known, *map(split_crm_handle, customer.crm_handles)]:
                listed = handles.setdefault(network, [])
                if handle.lower() not in (h.lower() for h in listed):
                    listed.append(handle)
            cells = [
                customer.external_id,
                customer.display_name,
                customer.email,
                customer.tier,
                ";".join(customer.tags),
                customer.notes,
                *(";".join(handles[network]) for network in NETWORKS),
            ]
            writer.writerow([csv_safe(strip_controls(cell)) if cell else "" for cell in cells])
            count += 1
    return count


def lines(result: ImportResult) -> Iterator[str]:
    """The summary and each rejected line, as the CLI prints them."""
    yield f"created {result.created}, updated {result.updated}, linked {result.linked}, rejected {len(result.rejected)}"
    for line, reason in result.rejected:
        yield f"line {line}: {reason}"
