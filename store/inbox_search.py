"""The inbox filter (store.inbox_filter) as one SQL condition on Thread, the same on SQLite and PostgreSQL.

A word or a phrase finds a thread when one of its messages holds it (the full-text index of each back end), or
when it starts a word of the customer's name or starts one of their handles: a responder types the name they
see. User text never reaches a query language: on SQLite each term is an FTS5 string ("..."), so operators, `*`,
brackets and quotes are only characters; PostgreSQL's phraseto_tsquery parses no operators.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, func, literal_column, not_, or_, table
from sqlmodel import Session, col, select

from store.inbox_filter import InboxFilter, values
from store.models import Customer, Identity, Mention, Thread
from store.query_language import All, AnyOf, Field, Not, Phrase, Syntax, Word


def latest_inbound_id() -> ColumnElement[int]:
    """The thread's latest customer message: what its row shows, and what sent: and lang: look at."""
    return (
        select(func.max(Mention.id))
        .where(Mention.thread_id == Thread.id, Mention.is_own == false())
        .correlate(Thread)
        .scalar_subquery()
    )


def filter_conditions(filters: InboxFilter, *, session: Session) -> list[ColumnElement[bool]]:
    """The filter as conditions on Thread (none for an empty filter)."""
    if filters.tree is None:
        return []
    return [_condition(filters.tree, _dialect(session))]


def json_elements(dialect: str) -> Any:
    """The table function that lists a JSON array's strings, one row each, in a column named `value`."""
    return func.json_each if dialect == "sqlite" else func.json_array_elements_text


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _condition(node: Syntax, dialect: str) -> ColumnElement[bool]:
    if isinstance(node, Not):
        return not_(_condition(node.inner, dialect))
    if isinstance(node, All):
        return and_(*(_condition(part, dialect) for part in node.parts))
    if isinstance(node, AnyOf):
        return or_(*(_condition(part, dialect) for part in node.parts))
    if isinstance(node, Field):
        return _field(node, dialect)
    return _text(node, dialect)


def _field(field: Field, dialect: str) -> ColumnElement[bool]:
    given = values(field)
    if field.key == "net":
        return func.lower(Thread.network).in_(given)
    if field.key == "brand":
        return func.lower(Thread.brand).in_(given)
    if field.key == "tier":
        return col(Thread.tier).in_(given)
    if field.key == "tag":
        each = json_elements(dialect)(col(Thread.tags)).table_valued("value")
        return exists(select(1).select_from(each).where(each.c.value.in_(given)))
    if field.key == "from":
        holders = select(Identity.customer_id).where(func.lower(Identity.handle).in_(given))
        return _of_customer(holders)
    # What the row shows: the customer's latest message, not any message of the thread. A thread with none (or
    # none scored) is simply not a match, and so is kept by a negation.
    latest = col(Mention.id) == latest_inbound_id()
    column = col(Mention.sentiment) if field.key == "sent" else func.lower(col(Mention.language))
    return exists(select(1).where(latest, column.in_(given)))


def _text(term: Word | Phrase, dialect: str) -> ColumnElement[bool]:
    said = col(Thread.id).in_(_threads_saying(term.text, dialect))
    needle = term.text.casefold()
    if isinstance(term, Word):
        needle = needle.removeprefix("@").removeprefix("u/")
    name = func.lower(Customer.display_name)
    named = select(Customer.id).where(
        or_(name.startswith(needle, autoescape=True), name.contains(" " + needle, autoescape=True))
    )
    conditions = [said, _of_customer(named)]
    if isinstance(term, Word) and needle:
        handles = select(Identity.customer_id).where(
            func.lower(Identity.handle).startswith(needle, autoescape=True)
        )
        conditions.append(_of_customer(handles))
    return or_(*conditions)


def _of_customer(customer_ids: Any) -> ColumnElement[bool]:
    # Never NULL (a thread without a customer is simply not theirs), so a negation keeps such threads.
    return and_(col(Thread.customer_id).is_not(None), col(Thread.customer_id).in_(customer_ids))


def _threads_saying(text: str, dialect: str) -> Any:
    """Threads with a message holding `text`'s words next to each other (an indexed full-text search)."""
    if dialect == "sqlite":
        fts = table("mention_fts")
        ids: Any = (
            select(literal_column("rowid"))
            .select_from(fts)
            .where(literal_column("mention_fts").op("MATCH")('"' + text.replace('"', '""') + '"'))
        )
        return select(Mention.thread_id).where(col(Mention.id).in_(ids))
    simple: Any = literal_column("'simple'")  # a constant, so the planner matches the GIN index's expression
    query = func.phraseto_tsquery(simple, text)
    return select(Mention.thread_id).where(func.to_tsvector(simple, Mention.text).op("@@")(query))
