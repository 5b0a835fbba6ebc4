"""Desk actions as responders use them: bulk changes that respect who holds a thread, snooze, undo, presence,
notes, and what the desk counts. Real databases; two desks on one PostgreSQL for the races."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from responders.desk import VIEWS, BulkResult, Desk
from responders.outbox import Outbox
from responders.triage import ClaimedByOther
from store import Store
from store.mentions import save_mentions
from store.models import DeskAction, Reply, Thread
from store.queries import VIEW_NAMES, InboxFilter

NOW = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def desk(
    store: Store, responder: str, clock: Clock | None = None, leads: tuple[str, ...] = ("carol",)
) -> Desk:
    """A responder's desk on a team that carol leads: carol may take threads back (and has them assigned), the
    others may not."""
    return Desk(
        store=store, responder=responder, outbox=Outbox(store, {}), clock=clock or Clock(), leads=leads
    )


def new_threads(store: Store, make_mention, n: int, *, prefix: str = "t") -> list[int]:
    with store.write() as s:
        stored = save_mentions(
            [
                make_mention(f"{prefix}{i}", conversation=f"{prefix}{i}", author=f"{prefix}{i}")
                for i in range(n)
            ],
            session=s,
        ).stored
    return [m.thread_id for m in stored]


def thread(store: Store, thread_id: int) -> Thread:
    with store.read() as s:
        found = s.get(Thread, thread_id)
        assert found is not None
        return found


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def alice(any_store, clock) -> Desk:
    return desk(any_store, "alice", clock)


@pytest.fixture
def bob(any_store, clock) -> Desk:
    return desk(any_store, "bob", clock)


def test_the_views_are_listed_for_the_sidebar_in_order():
    assert list(VIEWS) == list(VIEW_NAMES)
    assert all(VIEWS.values())


def test_bulk_assign_skips_threads_a_colleague_holds(any_store, make_mention, alice, bob):
    ids = new_threads(any_store, make_mention, 4)
    bob.claim(ids[0])
    result = alice.assign([*ids, 9999], "alice")
    assert result.done == ids[1:]
    held = "held by bob; a lead (carol) can take it back"
    assert result.skipped == {ids[0]: held, 9999: "no such thread"}
    assert result.summary("assigned") == f"3 threads assigned; 2 skipped ({held}, no such thread)"
    assert [thread(any_store, i).assignee for i in ids] == ["bob", "alice", "alice", "alice"]
    # Alice may hand her own threads on, or let them go; never bob's.
    assert alice.assign(ids[1:2], "carol").done == ids[1:2]
    assert alice.assign(ids[:3], None).skipped == {
        ids[0]: held,
        ids[1]: "held by carol; a lead (carol) can take it back",
    }
    assert [thread(any_store, i).assignee for i in ids] == ["bob", "carol", None, "alice"]
    assert alice.inbox("unassigned")[0].thread_id == ids[2]
    with pytest.raises(ClaimedByOther) as err:
        alice.claim(ids[0])
    assert err.value.holder == "bob"
    with pytest.raises(ClaimedByOther):
        alice.set_status(ids[0], "resolved")
    with pytest.raises(LookupError):
        alice.claim(9999)


def test_a_thread_goes_only_to_a_name_seen_on_the_desk_and_a_lead_takes_it_back(
    any_store, make_mention, alice, bob, clock
):
    ids = new_threads(any_store, make_mention, 3)
    with pytest.raises(ValueError, match="nobody called 'sam' has worked on this desk yet.*alice, carol"):
        alice.assign(ids, "sam")
    assert all(thread(any_store, i).assignee is None for i in ids)
    bob.claim(ids[0])
    desk(any_store, "dave").add_note(ids[2], "asked the warehouse")
    assert alice.assignable() == ["alice", "bob", "carol", "dave"]
    assert alice.assign(ids[1:2], "DAVE").done == ids[1:2] and thread(any_store, ids[1]).assignee == "dave"

    # Not a lead: bob's thread stays his, and the reason says who can free it.
    held = alice.assign(ids[:1], "alice")
    assert held.skipped == {ids[0]: "held by bob; a lead (carol) can take it back"}
    carol = desk(any_store, "carol", clock)
    taken = carol.assign(ids[:2], "carol")
    assert (
        taken.done == ids[:2]
        and taken.summary("assigned") == "2 threads assigned (2 taken back from bob, dave)"
    )
    assert [thread(any_store, i).assignee for i in ids[:2]] == ["carol", "carol"]

    # A thread held by a name nobody has (written before names were checked) is freed by a lead, never stuck.
    with any_store.write() as s:
        s.get(Thread, ids[2]).assignee = "sam"
    assert bob.move(ids[2:], "resolved").skipped == {ids[2]: "held by sam"}
    assert carol.assign(ids[2:], None).done == ids[2:] and thread(any_store, ids[2]).assignee is None
    # With no leads named, each desk's own responder is one.
    with any_store.write() as s:
        s.get(Thread, ids[2]).assignee = "sam"
    assert desk(any_store, "bob", clock, leads=()).assign(ids[2:], "bob").taken_from == {ids[2]: "sam"}


def test_two_desks_claiming_the_same_threads_at_once_each_thread_has_one_holder(any_store, make_mention):
    """Two desks, each with its own connection pool, as two TUI processes on one database would be."""
    other = Store(any_store.url)
    try:
        ids = new_threads(any_store, make_mention, 30)
        desks = [desk(any_store, "alice"), desk(other, "bob")]
        barrier = threading.Barrier(2)

        def claim_all(d: Desk) -> tuple[dict[int, str], BulkResult]:
            barrier.wait()
            outcome = {}
            for thread_id in ids:
                try:
                    outcome[thread_id] = d.claim(thread_id).assignee or ""
                except ClaimedByOther as lost:
                    outcome[thread_id] = f"lost to {lost.holder}"
            # And all of them again in one bulk action: nothing the other desk took moves.
            return outcome, d.assign(ids, d.responder)

        with ThreadPoolExecutor(2) as pool:
            seen = list(pool.map(claim_all, desks))
        holders = {thread_id: thread(any_store, thread_id).assignee for thread_id in ids}
        for thread_id, holder in holders.items():
            winner = ["alice", "bob"].index(holder)
            assert seen[winner][0][thread_id] == holder
            assert seen[1 - winner][0][thread_id] == f"lost to {holder}"
            assert seen[1 - winner][1].skipped[thread_id].startswith(f"held by {holder};")
        for index, name in enumerate(["alice", "bob"]):
            assert sorted(seen[index][1].done) == sorted(t for t, h in holders.items() if h == name)
    finally:
        other.dispose()


def test_snooze_hides_a_thread_until_the_customer_writes_again(any_store, make_mention, alice):
    ids = new_threads(any_store, make_mention, 2)
    result = alice.snooze(ids[:1], until_reply=True)
    assert result.summary("snoozed") == "1 thread snoozed"
    assert [r.thread_id for r in alice.inbox("inbox")] == ids[1:]
    assert [r.thread_id for r in alice.inbox("snoozed")] == ids[:1]
    assert alice.counts()["snoozed"] == 1 and alice.counts(InboxFilter.parse("net:mastodon"))["snoozed"] == 0
    with any_store.write() as s:
        save_mentions([make_mention("again", conversation="t0", author="t0", minutes=30)], session=s)
    assert sorted(r.thread_id for r in alice.inbox("inbox")) == ids
    assert alice.inbox("snoozed") == []


def test_a_timed_snooze_comes_back_by_itself(any_store, make_mention, alice, clock):
    ids = new_threads(any_store, make_mention, 1)
    alice.snooze(ids, until=NOW + timedelta(hours=1))
    assert alice.inbox("urgent") == [] and alice.inbox("inbox") == []
    assert alice.inbox("snoozed")[0].snoozed_until == NOW + timedelta(hours=1)
    clock.now = NOW + timedelta(hours=1, seconds=1)
    assert [r.thread_id for r in alice.inbox("inbox")] == ids
    with pytest.raises(ValueError, match="already past"):
        alice.snooze(ids, until=NOW)
    with pytest.raises(ValueError, match="until when"):
        alice.snooze(ids)


def test_wake_tag_untag_and_move_do_what_they_say(any_store, make_mention, alice):
    ids = new_threads(any_store, make_mention, 2)
    alice.snooze(ids, until_reply=True)
    assert alice.wake(ids).done == ids and len(alice.inbox("inbox")) == 2
    assert alice.tag(ids, "  Refund ").summary("tagged") == "2 threads tagged"
    alice.tag(ids[:1], "vip")
    assert [r.tags for r in alice.inbox("all")] == [["refund", "vip"], ["refund"]]
    assert [r.thread_id for r in alice.inbox("all", InboxFilter.parse("tag:vip"))] == ids[:1]
    alice.untag(ids, "REFUND")
    assert [thread(any_store, i).tags for i in ids] == [["vip"], []]
    for bad in ("", "   ", "two words", "a,b", "x" * 41, "red\x1b[31m"):
        with pytest.raises(ValueError, match="1 to 40 characters"):
            alice.tag(ids, bad)
    assert alice.move(ids, "resolved").summary("resolved") == "2 threads resolved"
    assert alice.inbox("inbox") == [] and alice.counts()["resolved"] == 2
    with pytest.raises(ValueError):
        alice.move(ids, "archived")


@pytest.mark.parametrize(
    "act, said, field, before",
    [
        (lambda d, ids: d.claim(ids[0]), "Undid claim of thread", "assignee", [None, None]),
        (
            lambda d, ids: d.set_status(ids[0], "pending"),
            "Undid move to pending of thread",
            "status",
            ["new", "new"],
        ),
        (
            lambda d, ids: d.assign(ids, "carol"),
            "Undid assignment to carol of 2 threads",
            "assignee",
            [None, None],
        ),
        (lambda d, ids: d.move(ids, "resolved"), "Undid resolve of 2 threads", "status", ["new", "new"]),
        (lambda d, ids: d.tag(ids, "refund"), "Undid tag refund of 2 threads", "tags", [["vip"], []]),
        (lambda d, ids: d.untag(ids, "vip"), "Undid untag vip of thread", "tags", [["vip"], []]),
        (
            lambda d, ids: d.snooze(ids, until_reply=True),
            "Undid snooze of 2 threads",
            "snooze_until_reply",
            [False, False],
        ),
    ],
)
def test_undo_puts_back_each_kind_of_action(any_store, make_mention, alice, act, said, field, before):
    ids = new_threads(any_store, make_mention, 2)
    with any_store.write() as s:
        s.get(Thread, ids[0]).tags = ["vip"]
    act(alice, ids)
    assert [getattr(thread(any_store, i), field) for i in ids] != before
    assert alice.undo().startswith(said)
    assert [getattr(thread(any_store, i), field) for i in ids] == before
    assert alice.undo() is None


def test_undo_of_wake_puts_the_snooze_back(any_store, make_mention, alice):
    ids = new_threads(any_store, make_mention, 1)
    alice.snooze(ids, until=NOW + timedelta(hours=2))
    alice.wake(ids)
    assert alice.undo() == f"Undid wake of thread {ids[0]}"
    assert thread(any_store, ids[0]).snoozed_until == NOW + timedelta(hours=2)
    assert alice.undo() == f"Undid snooze of thread {ids[0]}"
    assert thread(any_store, ids[0]).snoozed_until is None


def test_undo_leaves_a_colleagues_later_change_alone(any_store, make_mention, alice, bob):
    ids = new_threads(any_store, make_mention, 3)
    alice.move(ids, "resolved")
    alice.assign(ids, None)  # nothing to change: not an action to undo
    bob.set_status(ids[1], "open")
    bob.claim(ids[2])
    said = alice.undo()
    assert said == f"Undid resolve of 2 threads; 1 left as changed since (#{ids[1]} now open)"
    assert [thread(any_store, i).status for i in ids] == ["new", "open", "new"]
    assert thread(any_store, ids[2]).assignee == "bob"


def test_a_second_undo_undoes_the_action_before(any_store, make_mention, alice, bob):
    ids = new_threads(any_store, make_mention, 2)
    alice.claim(ids[0])
    alice.tag(ids, "refund")
    bob.tag(ids[1:], "bobs")  # bob's actions are bob's to undo
    assert alice.undo() == "Undid tag refund of 2 threads"
    assert [thread(any_store, i).tags for i in ids] == [[], ["bobs"]]
    assert alice.undo() == f"Undid claim of thread {ids[0]}"
    assert thread(any_store, ids[0]).assignee is None
    assert alice.undo() is None
    assert bob.undo() == f"Undid tag bobs of thread {ids[1]}"
    with any_store.read() as s:
        actions = s.exec(select(DeskAction).order_by(DeskAction.id)).all()
    assert [(a.responder, a.kind, a.undone_at is not None) for a in actions] == [
        ("alice", "claim", True),
        ("alice", "tag", True),
        ("bob", "tag", True),
    ]
    assert actions[0].before[str(ids[0])] == {"assignee": None}


def test_undo_of_a_claim_someone_took_over_says_so(any_store, make_mention, alice):
    ids = new_threads(any_store, make_mention, 1)
    alice.claim(ids[0])
    alice.assign(ids, "carol")
    with any_store.write() as s:
        action = s.exec(select(DeskAction).where(DeskAction.kind == "assign")).one()
        action.undone_at = NOW  # as if already undone; the claim is next
        s.add(action)
    assert alice.undo() == f"Could not undo claim: #{ids[0]} now held by carol"
    assert thread(any_store, ids[0]).assignee == "carol"


def test_actions_bump_updated_at_so_desks_refresh(any_store, make_mention, alice, clock):
    ids = new_threads(any_store, make_mention, 1)
    clock.now = NOW + timedelta(days=400)
    alice.tag(ids, "x")
    assert thread(any_store, ids[0]).updated_at == clock.now
    assert alice.last_change() == clock.now
    clock.now += timedelta(minutes=1)
    alice.add_note(ids[0], "  called them  ")
    assert alice.last_change() == clock.now


def test_a_colleague_viewing_a_thread_shows_until_their_heartbeat_is_stale(
    any_store, make_mention, alice, bob, clock
):
    ids = new_threads(any_store, make_mention, 2)
    bob.viewing(ids[0])
    alice.viewing(ids[0])
    assert [r.viewers for r in alice.inbox("inbox")] == [["bob"], []]
    assert alice.thread(ids[0]).viewers == ["bob"] and bob.thread(ids[0]).viewers == ["alice"]
    bob.viewing(ids[1])
    assert [r.viewers for r in alice.inbox("inbox")] == [[], ["bob"]]
    clock.now += timedelta(seconds=31)
    assert [r.viewers for r in alice.inbox("inbox")] == [[], []]
    bob.viewing(None)
    assert alice.thread(ids[1]).viewers == []
    with pytest.raises(LookupError):
        bob.viewing(9999)


def test_notes_are_kept_in_order_and_refused_when_empty_or_huge(any_store, make_mention, alice, bob, clock):
    ids = new_threads(any_store, make_mention, 1)
    alice.add_note(ids[0], "refund approved")
    clock.now += timedelta(minutes=1)
    note = bob.add_note(ids[0], "  sent the \x1b[2Jlabel\r\nto them\n")
    assert (note.responder, note.text) == ("bob", "sent the [2Jlabel\nto them")
    assert [(n.responder, n.text) for n in alice.thread(ids[0]).notes] == [
        ("alice", "refund approved"),
        ("bob", "sent the [2Jlabel\nto them"),
    ]
    with pytest.raises(ValueError, match="empty"):
        alice.add_note(ids[0], " \n ")
    with pytest.raises(ValueError, match="keep it to 5000"):
        alice.add_note(ids[0], "x" * 5001)
    with pytest.raises(LookupError):
        alice.add_note(9999, "hello")


def test_activity_counts_customer_messages_per_hour_with_their_mood(any_store, make_mention, alice, clock):
    items = [
        make_mention("1", minutes=0, sentiment="negative"),  # 09:00
        make_mention("2", minutes=20, sentiment="positive", conversation="c2", author="u2"),  # 09:20
        make_mention("3", minutes=20, own=True, author="acme"),  # the brand's own: not activity
        make_mention("4", minutes=150, sentiment="neutral", conversation="c3", author="u3"),  # 11:30
        make_mention("5", minutes=-60 * 30, conversation="c4", author="u4"),  # 30 hours earlier: outside
    ]
    items[3].scores.sentiment_probs = {"positive": 0.5, "negative": 0.25, "neutral": 0.25}
    with any_store.write() as s:
        save_mentions(items, session=s)
    clock.now = datetime(2026, 11, 16, 12, 30, tzinfo=UTC)
    buckets = alice.activity(24)
    assert len(buckets) == 24
    assert buckets[0].start == datetime(2026, 11, 15, 13, tzinfo=UTC)
    assert buckets[-1].start == datetime(2026, 11, 16, 12, tzinfo=UTC)
    by_hour = {b.start.hour: (b.inbound, b.sentiment) for b in buckets}
    assert by_hour[9] == (2, 0.0) and by_hour[11] == (1, 0.25) and by_hour[10] == (0, None)
    assert sum(b.inbound for b in buckets) == 3
    assert len(alice.activity(3)) == 3
    with pytest.raises(ValueError, match="1 or more"):
        alice.activity(0)


def test_saved_reply_uses_count_every_reply_that_used_one(any_store, make_mention, alice):
    with any_store.write() as s:
        mention = save_mentions([make_mention("m")], session=s).stored[0]
        for n, template in enumerate(["sorry", "sorry", "thanks", None]):
            reply = Reply(
                thread_id=mention.thread_id, in_reply_to_id=mention.id, responder="alice", text="hi"
            )
            reply.template, reply.idempotency_key = template, f"k{n}"
            s.add(reply)
    assert alice.saved_reply_uses() == {"sorry": 2, "thanks": 1}


def test_bulk_result_summary_reads_well():
    assert (
        BulkResult([1, 2, 3], {4: "held by bob"}).summary("snoozed")
        == "3 threads snoozed; 1 skipped (held by bob)"
    )
    assert BulkResult([], {}).summary("tagged") == "0 threads tagged"
