"""What urgency learns about the author from the store: earlier messages in the thread, and their tier."""

from __future__ import annotations

from sqlalchemy import event
from sqlmodel import select

from store.contacts import Contact, contacts
from store.mentions import save_mentions
from store.models import Customer, Identity


def test_prior_contacts_count_the_customers_messages_in_that_thread_only(any_store, make_mention):
    with any_store.write() as s:
        save_mentions(
            [
                make_mention("1", conversation="c1", author="jane"),
                make_mention("2", conversation="c1", own=True, author="acme", minutes=1),
                make_mention("3", conversation="c1", author="jane", minutes=2),
                make_mention("4", conversation="c2", author="jane", minutes=3),
                make_mention("5", conversation="c1", author="omar", minutes=4),
                # The same conversation id on another network is another thread, even from the same person.
                make_mention("6", conversation="c1", author="jane-m", network="mastodon", minutes=5),
            ],
            session=s,
        )
        jane = s.exec(select(Identity).where(Identity.native_user_id == "jane")).one()
        # Jane's second account and her Mastodon one, merged into her record.
        alt = Identity(network="x", native_user_id="jane-alt", customer_id=jane.customer_id)
        s.add(alt)
        mastodon = s.exec(select(Identity).where(Identity.native_user_id == "jane-m")).one()
        mastodon.customer_id = jane.customer_id
        s.get(Customer, jane.customer_id).tier = "vip"

    batch = [
        make_mention("10", conversation="c1", author="jane").mention,
        make_mention("11", conversation="c2", author="jane").mention,
        make_mention("12", conversation="c3", author="jane").mention,
        make_mention("13", conversation="c1", author="jane-alt").mention,
        make_mention("14", conversation="c1", author="omar").mention,
        make_mention("15", conversation="c1", author="zoe").mention,
        make_mention("16", conversation="c1", author="zoe").mention,
        make_mention("17", conversation="c1", own=True, author="acme").mention,
    ]
    queries: list[str] = []

    def record(_conn, _cursor, statement, *_rest) -> None:
        queries.append(statement)

    with any_store.read() as s:
        connection = s.connection()
        event.listen(connection, "before_cursor_execute", record)
        found = contacts(batch, session=s)
        event.remove(connection, "before_cursor_execute", record)

    assert found == [
        Contact(prior_contacts=2, customer_tier="vip"),  # her two in c1; not the brand's, not Mastodon's c1
        Contact(prior_contacts=1, customer_tier="vip"),
        Contact(prior_contacts=0, customer_tier="vip"),  # a new thread starts from nothing
        Contact(prior_contacts=3, customer_tier="vip"),  # another of her accounts: her two, and #10 just now
        Contact(prior_contacts=1, customer_tier="standard"),
        Contact(prior_contacts=0, customer_tier=None),  # never heard of: no record, no tier
        Contact(prior_contacts=1, customer_tier=None),  # ... but already wrote once in this batch
        Contact(),  # the brand's own post
    ]
    assert len(queries) == 1


def test_the_same_post_twice_in_a_batch_is_not_a_second_contact(any_store, make_mention):
    twice = [make_mention("1", author="jane").mention, make_mention("1", author="jane").mention]
    with any_store.read() as s:
        assert contacts(twice, session=s) == [Contact(), Contact()]
        assert contacts([], session=s) == []
