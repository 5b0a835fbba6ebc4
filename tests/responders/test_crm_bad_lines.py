"""A CRM file with lines that are no CSV row: each is reported by its line, with why, and every good row around it
is imported. (One cell over 128 KB refused the whole file, saying to check the quoting; a quote never closed
swallowed every row after it, and the import said "created 1".)"""

from __future__ import annotations

import io

from sqlmodel import col, select

from responders.customers import CustomerBook
from store.models import Customer


def names(store) -> list[str]:
    with store.read() as s:
        return sorted(
            c.display_name for c in s.exec(select(Customer).where(col(Customer.merged_into_id).is_(None)))
        )


def test_a_cell_over_128_kb_costs_only_its_own_line(any_store):
    text = (
        "name,email,notes\n"
        "Ann,ann@example.com,\n"
        f"Huge,huge@example.com,{'x' * 200_000}\n"
        f'Quoted,quoted@example.com,"{"y" * 100_000}\n{"y" * 100_000}"\n'
        "Bob,bob@example.com,a note\n"
    )
    result = CustomerBook(any_store, "alice").import_csv(io.StringIO(text))
    assert (result.created, result.updated) == (2, 0)
    assert result.rejected == [
        (3, "a cell is over 131,072 characters; no column holds that much (notes take up to 10,000)"),
        (
            4,
            "a cell is over 131,072 characters; no column holds that much (notes take up to 10,000) "
            "(lines 4 to 5, one cell)",
        ),
    ]
    assert names(any_store) == ["Ann", "Bob"]


def test_a_stray_quote_is_reported_and_the_rows_it_would_swallow_imported(any_store):
    text = (
        "name,email,notes\n"
        "Ann,ann@example.com,\n"
        '"Bob Smith,bob@example.com,\n'
        "Carl,carl@example.com,\n"
        'Dan",dan@example.com,\n'
        'Dora,dora@example.com,"two\nlines"\n'
        '"Eve" Jones,eve@example.com,\n'
        "Finn,finn@example.com,\n"
    )
    result = CustomerBook(any_store, "alice").import_csv(io.StringIO(text))
    assert result.rejected == [
        (3, "a quote opened on this line is closed only on line 5, taking the lines between"),
        (
            8,
            "text after a closing quote: a quoted cell ends at its quote (a quote inside a cell is written twice)",
        ),
    ]
    # Line 5 is read as written: its stray quote stays in the name, where the responder sees it.
    assert names(any_store) == ["Ann", "Carl", 'Dan"', "Dora", "Finn"]
    with any_store.read() as s:
        dora = s.exec(select(Customer).where(Customer.display_name == "Dora")).one()
    assert dora.notes == "two\nlines"  # a quoted note may hold line breaks


def test_a_quote_left_open_to_the_end_of_the_file_is_named(any_store):
    text = 'name,email\nAnn,ann@example.com\n"Bob,bob@example.com\nCarl,carl@example.com\n'
    result = CustomerBook(any_store, "alice").import_csv(io.StringIO(text))
    assert result.rejected == [(3, "a quote opened on this line is never closed")]
    assert names(any_store) == ["Ann", "Carl"]
