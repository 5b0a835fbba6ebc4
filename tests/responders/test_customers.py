"""The customer book as the desk and the CLI use it: one customer across networks, merge suggestions with
their reasons, and CRM CSV import and export, against real databases."""

from __future__ import annotations

import csv
import io
import re
from functools import partial

import pytest
from customer_kit import customer_of, store_message
from sqlmodel import col, select

from responders.crm import COLUMNS, CrmFileError
from responders.customers import CustomerBook
from store import Store
from store.models import Customer, CustomerMerge, Thread


@pytest.fixture
def post(make_mention):
    """Store one customer message as the pipeline would; look things up by handle afterwards."""
    return partial(store_message, make_mention=make_mention)


def customers(store) -> dict[str, Customer]:
    """Live records by name."""
    with store.read() as s:
        return {
            c.display_name: c for c in s.exec(select(Customer).where(col(Customer.merged_into_id).is_(None)))
        }


def import_text(book: CustomerBook, text: str, **kw):
    return book.import_csv(io.StringIO(text), **kw)


def test_the_record_shows_every_network_every_thread_and_lifetime_figures(any_store, post):
    post(any_store, "1", author="jane", display="Jane Smith", minutes=0, complaint=0.9, sentiment="negative")
    post(any_store, "2", author="jane", minutes=30, complaint=0.2, sentiment="positive", text="thanks!")
    post(any_store, "3", author="jane_m", network="mastodon", minutes=60, complaint=0.7, text="still broken")
    book = CustomerBook(any_store, "alice")
    jane, jane_m = customer_of(any_store, "jane"), customer_of(any_store, "jane_m", "mastodon")
    book.merge(jane, jane_m)
    with any_store.write() as s:
        first = s.exec(select(Thread).where(Thread.conversation_id == "c-1")).one()
        first.status = "resolved"
        s.add(first)

    view = book.view(jane)
    assert view is not None
    assert [(i.network, i.handle) for i in view.identities] == [("mastodon", "jane_m"), ("x", "jane")]
    # Newest first, each with the customer's latest words in it.
    assert [view.latest_text[t.id] for t in view.threads] == [
        "still broken",
        "thanks!",
        "@acme my order never arrived",
    ]
    stats = view.stats
    assert (stats.threads, stats.open_threads, stats.resolved, stats.complaints) == (3, 2, 1, 2)
    assert stats.mean_sentiment == pytest.approx((-1 + 1 - 1) / 3)
    assert stats.networks == ["mastodon", "x"]
    assert (stats.last_seen - stats.first_seen).total_seconds() == 3600
    assert [(m.from_customer_id, view.merged_from[m.from_customer_id].display_name) for m in view.merges] == [
        (jane_m, "jane_m")
    ]
    # The record merged away opens as the one it went into.
    assert book.view(jane_m).customer.id == jane
    assert book.view(12345) is None


def test_suggestions_name_their_reasons_strongest_first(any_store, post):
    post(any_store, "1", author="jane", display="José  SMITH")
    post(any_store, "2", author="jane", network="bluesky", display="Someone Else")
    post(
        any_store,
        "3",
        author="jsmith",
        network="mastodon",
        display="Jose Smith",
        text="mail me: jose@example.com",
        entities=[{"label": "EMAIL", "text": "jose@example.com"}],
    )
    post(any_store, "4", author="sam", display="Sam")
    post(any_store, "5", author="sam2", network="reddit", display="Sam")
    book = CustomerBook(any_store, "alice")
    me = customer_of(any_store, "jane")
    book.update(me, email="Jose@Example.com")
    crm = Customer(display_name="J. Smith (CRM)", crm_handles=["x:@jane"])
    with any_store.write() as s:
        s.add(crm)

    found = {s.customer.display_name: s.reasons for s in book.suggestions(me)}
    assert found == {
        "Jose Smith": ["same e-mail jose@example.com", "same name Jose Smith"],
        "J. Smith (CRM)": ["CRM lists x:@jane"],
        "Someone Else": ["same handle @jane (bluesky, x)"],
    }
    assert list(found) == ["Jose Smith", "J. Smith (CRM)", "Someone Else"]
    # The CRM's side sees the same link, and a one-word name ("Sam") is never enough.
    assert [s.reasons for s in book.suggestions(crm.id)] == [["CRM lists x:@jane"]]
    assert book.suggestions(customer_of(any_store, "sam")) == []

    book.merge(me, customer_of(any_store, "jsmith", "mastodon"))
    assert "Jose Smith" not in {s.customer.display_name for s in book.suggestions(me)}


def test_updates_are_cleaned_and_bad_values_are_named(any_store, post):
    post(any_store, "1", author="ann", display="Ann")
    book = CustomerBook(any_store, "alice")
    ann = customer_of(any_store, "ann")
    book.update(
        ann,
        display_name="  Ann   Lee \x1b[2J",
        tier="VIP",
        tags=["Late Delivery", "vip", "late delivery"],
        notes=" prefers DMs \n",
    )
    with any_store.read() as s:
        record = s.get(Customer, ann)
    assert (record.display_name, record.tier, record.tags, record.notes) == (
        "Ann Lee [2J",
        "vip",
        ["late-delivery", "vip"],
        "prefers DMs",
    )
    with pytest.raises(ValueError, match="malformed"):
        book.update(ann, email="ann at example")
    with pytest.raises(ValueError, match="the limit is 200"):
        book.update(ann, display_name="x" * 201)
    with pytest.raises(ValueError, match="needs a name"):
        book.update(ann, display_name="  ")
    book.update(ann, email="")
    with any_store.read() as s:
        assert s.get(Customer, ann).email is None


CSV = """\ufeffexternal_id,name,email,tier,tags,notes,x,mastodon,bluesky,reddit
c-1,Jane Smith,jane@example.com,vip,refund;Late Delivery,Prefers e-mail,@jane,jane@mastodon.social,,
c-2,Nameless Row,,,,,,,,
,,,,,,,,,
c-3,,not-an-email,,,,,,,
c-4,Bob Jones,bob@example.com,,,,bob;@bobby,,,
c-5,"Multi
Line",,,,"a note
over two lines",,,,
c-6,Too Long,,,,,,,,{"x" * 201}
c-7,Cara,cara@example.com,standard,,,,,cara.bsky.social,
"""


def test_a_crm_import_creates_links_and_rejects_bad_rows_by_line(any_store, post):
    post(any_store, "1", author="jane", display="jane!!")
    post(any_store, "2", author="jane@mastodon.social", network="mastodon", display="Jane on Mastodon")
    post(any_store, "3", author="bobby", display="Bobby")
    before = customer_of(any_store, "jane")
    book = CustomerBook(any_store, "alice")
    seen: list[tuple[int, int]] = []
    result = import_text(
        book, CSV.replace('{"x" * 201}', "x" * 201), progress=lambda d, t: seen.append((d, t))
    )

    assert (result.created, result.updated, result.linked) == (5, 0, 3)
    assert result.rejected == [
        (5, "e-mail 'not-an-email' is malformed: expected an address like name@example.com"),
        (10, "handle is 201 characters long; the limit is 200"),
    ]
    assert seen == [(7, 7)]
    records = customers(any_store)
    jane = records["Jane Smith"]
    assert (jane.external_id, jane.email, jane.tier, jane.tags, jane.notes) == (
        "c-1",
        "jane@example.com",
        "vip",
        ["refund", "late-delivery"],
        "Prefers e-mail",
    )
    # Both of Jane's accounts now sit on the CRM record; the records earful made for them are merged away.
    assert (
        customer_of(any_store, "jane")
        == customer_of(any_store, "jane@mastodon.social", "mastodon")
        == jane.id
    )
    assert "jane!!" not in records and "Jane on Mastodon" not in records
    # Bob's second handle is one we know; the first is remembered until he writes.
    assert records["Bob Jones"].crm_handles == ["x:@bob"]
    assert customer_of(any_store, "bobby") == records["Bob Jones"].id
    assert records["Multi Line"].notes == "a note\nover two lines"
    assert records["Cara"].crm_handles == ["bluesky:@cara.bsky.social"]

    # Each link is an undoable merge: undoing Jane's X one gives her old record back, with its thread.
    with any_store.read() as s:
        merges = s.exec(select(CustomerMerge).where(CustomerMerge.into_customer_id == jane.id)).all()
    [x_link] = [m for m in merges if m.from_customer_id == before]
    book.unmerge(x_link.id)
    assert customer_of(any_store, "jane") == before
    assert "jane!!" in customers(any_store)


def test_importing_the_same_file_again_changes_nothing_and_keeps_desk_notes(any_store):
    book = CustomerBook(any_store, "alice")
    text = "name,email,notes,tags\nDee,dee@example.com,from the CRM,gold\n"
    assert import_text(book, text).created == 1
    dee = customers(any_store)["Dee"]
    book.update(dee.id, notes="from the CRM\n\ncalled 3 times about the refund")
    again = import_text(book, text)
    assert (again.created, again.updated, again.rejected) == (0, 0, [])
    changed = import_text(book, "email,notes,tags,tier\nDEE@example.com,moved to Berlin,Silver,vip\n")
    assert (changed.created, changed.updated) == (0, 1)
    record = customers(any_store)["Dee"]
    assert record.notes == "from the CRM\n\ncalled 3 times about the refund\n\nmoved to Berlin"
    assert (record.tags, record.tier) == (["gold", "silver"], "vip")


def test_a_handle_held_by_another_crm_contact_is_not_taken_but_suggested(any_store, post):
    post(any_store, "1", author="shared", display="Shared")
    book = CustomerBook(any_store, "alice")
    import_text(book, "external_id,name,x\nA,Alpha Person,shared\n")
    result = import_text(book, "external_id,name,x\nB,Beta Person,@shared\n")
    assert result.linked == 0
    records = customers(any_store)
    assert customer_of(any_store, "shared") == records["Alpha Person"].id
    assert [(s.customer.display_name, s.reasons) for s in book.suggestions(records["Beta Person"].id)] == [
        ("Alpha Person", ["CRM lists x:@shared"])
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "external_id,name,phone\n1,A,555\n",
            "unknown column 'phone' in the header. Fix: use the columns "
            "external_id,name,email,tier,tags,notes,x,mastodon,bluesky,reddit",
        ),
        ("", "is empty"),
        ("name,NAME\nA,B\n", "appears twice"),
        ("tier,x\nvip,jane\n", "neither name nor email"),
    ],
)
def test_a_file_that_cannot_be_imported_says_why_and_imports_nothing(any_store, text, message):
    book = CustomerBook(any_store, "alice")
    with pytest.raises(CrmFileError, match=re.escape(message)):
        import_text(book, text)
    assert customers(any_store) == {}


def test_unreadable_files_name_the_cause(sqlite_store, tmp_path):
    book = CustomerBook(sqlite_store, "alice")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("name\nJosé\n".encode("latin-1"))
    with pytest.raises(CrmFileError, match=r"not UTF-8 text \(byte 0xe9 at offset 8\)"):
        book.import_csv(latin1)
    with pytest.raises(CrmFileError, match="no such file"):
        book.import_csv(tmp_path / "missing.csv")


def test_export_then_import_round_trips_and_no_cell_is_a_formula(any_store, post, tmp_path):
    post(any_store, "1", author="eve", display='=HYPERLINK("http://evil","click")')
    post(any_store, "2", author="-dash-", network="reddit", display="Dash")
    post(any_store, "3", author="walt", display="Walt White")
    book = CustomerBook(any_store, "alice")
    eve = customer_of(any_store, "eve")
    book.update(eve, notes="@everyone look\nsecond line", tags=["+1", "vip"], email="eve@example.com")
    book.merge(eve, customer_of(any_store, "-dash-", "reddit"))
    import_text(book, "external_id,name,mastodon,x\nk-9,Kay Nine,@kay@mastodon.social,kay9\n")
    first = io.StringIO()
    assert book.export_csv(first) == 3

    rows = list(csv.reader(io.StringIO(first.getvalue())))
    assert rows[0] == list(COLUMNS)
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows[1:] for cell in row)
    assert rows[1] == [
        "",
        '\'=HYPERLINK("http://evil","click")',
        "eve@example.com",
        "standard",
        "'+1;vip",
        "'@everyone look\nsecond line",
        "eve",
        "",
        "",
        "'-dash-",
    ]
    assert rows[3][:2] == ["k-9", "Kay Nine"] and rows[3][6:8] == ["kay9", "kay@mastodon.social"]

    other = Store(f"sqlite:///{tmp_path / 'other.db'}")
    other.migrate()
    other_book = CustomerBook(other, "alice")
    result = other_book.import_csv(io.StringIO(first.getvalue()))
    assert (result.created, result.rejected) == (3, [])
    second = io.StringIO()
    other_book.export_csv(second)
    assert second.getvalue() == first.getvalue()
    eve_there = customers(other)['=HYPERLINK("http://evil","click")']
    assert (eve_there.notes, eve_there.crm_handles) == (
        "@everyone look\nsecond line",
        ["x:@eve", "reddit:@-dash-"],
    )

    # Back into the same database: nothing new, and records earful made (Walt's) are found by their handles.
    again = book.import_csv(io.StringIO(first.getvalue()))
    assert (again.created, again.updated, again.linked, again.rejected) == (0, 0, 0, [])
    assert len(customers(any_store)) == 3


def test_a_big_file_goes_in_chunks_and_one_bad_row_costs_only_itself(any_store, post):
    post(any_store, "1", author="h399", display="Known Late")
    known = customer_of(any_store, "h399")
    book = CustomerBook(any_store, "alice")
    import_text(book, "email,notes\nfull@example.com," + "n" * 9_990 + "\n")
    lines = ["name,email,notes,x"] + [f"P{i},,,h{i}" for i in range(450)]
    lines[100] = "P99,,too long " + "z" * 10_000 + ",h99"
    # Matched by e-mail, but its notes would push the record past the limit: that row alone is left out.
    lines[300] = "Full,full@example.com,a different note,h299"
    seen: list[tuple[int, int]] = []
    result = import_text(book, "\n".join(lines) + "\n", progress=lambda d, t: seen.append((d, t)))
    assert seen == [(200, 450), (400, 450), (450, 450)]
    assert result.rejected == [
        (101, "notes is 10,009 characters long; the limit is 10,000"),
        (301, "notes is 10,008 characters long; the limit is 10,000"),
    ]
    assert (result.created, result.updated, result.linked) == (447, 1, 0)
    # A row with neither id nor e-mail naming an account we know is that account's record, renamed.
    assert customer_of(any_store, "h399") == customers(any_store)["P399"].id == known
    assert customers(any_store)["P0"].crm_handles == ["x:@h0"]
