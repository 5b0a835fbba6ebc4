"""Alert rules from configuration: which mentions and threads trip them, what the alert says, and how a bad rule
is refused. Real SQLite store; the firings are what `earful alerts history` and the desk show."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from earful.settings import SettingsError, load_settings
from responders.alert_rules import NegativeReachRule, SlaRule, TermsRule, TierRule, VipRule
from responders.alert_text import alert_message
from responders.alert_windows import sla_firings
from responders.alerts import AlertSettings, mention_firings
from store import Store
from store.mentions import save_mentions
from store.models import AlertFiring, Customer, Mention, Thread

NOW = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)


def fire(store: Store, settings: AlertSettings, *items) -> list[AlertFiring]:
    with store.write() as session:
        stored = save_mentions(list(items), session=session).stored
        fired = mention_firings(stored, session=session, settings=settings, now=NOW)
        for firing in fired:
            session.expunge(firing)
        return fired


def test_each_mention_rule_fires_on_what_it_describes_and_nothing_else(sqlite_store, make_mention):
    settings = AlertSettings(
        rules=[
            TierRule(name="critical", min_tier="critical"),
            VipRule(name="vip", min_followers=50_000),
            TermsRule(name="legal", query='lawyer OR lawsuit OR "small claims"'),
            NegativeReachRule(name="loud-and-angry", min_followers=10_000),
        ]
    )
    fired = fire(
        sqlite_store,
        settings,
        make_mention("1", text="my order never arrived", tier="critical", urgency=95, author="a"),
        make_mention("2", text="thanks for the help!", sentiment="positive", followers=80_000, author="b"),
        make_mention("3", text="calling my lawyer about this", author="c", conversation="c3"),
        make_mention("4", text="worst service ever", followers=20_000, author="d", conversation="c4"),
        make_mention("5", text="where is my parcel", followers=20, author="e", conversation="c5"),
        make_mention("6", text="lawsuit incoming", own=True, author="acme", conversation="c6"),
    )
    by_rule = {f.rule: f for f in fired}
    assert sorted(by_rule) == ["critical", "legal", "loud-and-angry", "vip"]
    assert by_rule["critical"].examples[0]["text"] == "my order never arrived"
    assert "Critical complaint about acme on X from @a" in by_rule["critical"].reason
    assert "from a big account" in by_rule["vip"].reason and "(80,000 followers)" in by_rule["vip"].reason
    assert "lawyer OR lawsuit" in by_rule["legal"].reason
    assert by_rule["loud-and-angry"].reason.startswith(
        "Negative complaint from a big account about acme on X"
    )
    # The quiet customer (5) and the brand's own post (6) trip nothing.
    assert all(f.examples[0]["handle"] not in ("e", "acme") for f in fired)


def test_one_alert_per_mention_naming_every_rule_it_tripped_and_replays_change_nothing(
    sqlite_store, make_mention
):
    settings = AlertSettings(
        rules=[TierRule(name="critical"), TermsRule(name="refunds", query="refund")],
    )
    mention = make_mention("1", text="I want a refund NOW", tier="critical", urgency=97)
    first = fire(sqlite_store, settings, mention)
    assert [(f.rule, f.figures["rules"]) for f in first] == [("critical", ["critical", "refunds"])]
    with sqlite_store.write() as session:
        stored = session.exec(select(Mention)).all()
        again = mention_firings(list(stored), session=session, settings=settings, now=NOW)
    assert again == []
    with sqlite_store.read() as session:
        assert len(session.exec(select(AlertFiring)).all()) == 1


def test_a_vip_is_known_by_the_tier_on_their_customer_record(sqlite_store, make_mention):
    settings = AlertSettings(rules=[VipRule(name="vip", customer_tiers=["vip"], min_followers=0)])
    assert fire(sqlite_store, settings, make_mention("1", text="hello?", author="a")) == []
    with sqlite_store.write() as session:
        thread = session.exec(select(Thread)).one()
        customer = session.get(Customer, thread.customer_id)
        assert customer is not None
        customer.tier = "vip"
        session.add(customer)
    fired = fire(sqlite_store, settings, make_mention("2", text="still waiting", author="a", minutes=5))
    assert len(fired) == 1 and "VIP customer" in fired[0].reason


def test_rules_limited_to_brands_and_networks(sqlite_store, make_mention):
    settings = AlertSettings(
        rules=[
            TierRule(name="mastodon-only", min_tier="low", networks=["mastodon"]),
            TierRule(name="other-brand", min_tier="low", brands=["globex"]),
        ]
    )
    assert fire(sqlite_store, settings, make_mention("1", tier="critical")) == []
    fired = fire(sqlite_store, settings, make_mention("2", network="mastodon", conversation="m1"))
    assert [f.rule for f in fired] == ["mastodon-only"]


def test_alert_text_says_why_shows_figures_examples_and_the_command_as_plain_text(sqlite_store, make_mention):
    hostile = '<b>fix it</b> [red]now[/red] =HYPERLINK("x") \x1b[31mred\x1b[0m'
    fired = fire(
        sqlite_store,
        AlertSettings(rules=[TierRule(name="critical")]),
        make_mention("1", text=hostile, tier="critical", urgency=96, handle="jane", followers=12_400),
    )
    title, body = alert_message(fired[0])
    assert title.startswith("Critical complaint about acme on X from @jane")
    assert body.splitlines()[0].endswith("urgency 96 (critical).")
    assert "urgency: 96" in body and "followers: 12,400" in body and "complaint probability: 90%" in body
    # The customer's words arrive exactly as typed, minus the terminal escape's ESC byte.
    assert '<b>fix it</b> [red]now[/red] =HYPERLINK("x") [31mred[0m' in body
    assert "\x1b" not in body
    assert f"earful tui --thread {fired[0].thread_ids[0]}" in body
    assert "Rule: critical (tier)" in body


def _thread_due(store: Store, make_mention, native: str, *, due: datetime, tier: str = "critical") -> int:
    with store.write() as session:
        save_mentions([make_mention(native, conversation=f"c{native}", author=f"u{native}")], session=session)
        thread = session.exec(select(Thread).where(Thread.conversation_id == f"c{native}")).one()
        thread.sla_due_at, thread.tier = due, tier
        session.add(thread)
        assert thread.id is not None
        return thread.id


def test_sla_rule_warns_before_the_breach_once_and_the_breach_refreshes_that_alert(
    sqlite_store, make_mention
):
    rule = SlaRule(name="sla", before_minutes=5, min_tier="high")
    soon = _thread_due(sqlite_store, make_mention, "1", due=NOW + timedelta(minutes=4))
    _thread_due(sqlite_store, make_mention, "2", due=NOW + timedelta(minutes=30))
    _thread_due(sqlite_store, make_mention, "3", due=NOW - timedelta(days=2))  # old news: not alerted
    _thread_due(sqlite_store, make_mention, "4", due=NOW + timedelta(minutes=1), tier="normal")

    def run(at: datetime) -> list[AlertFiring]:
        with sqlite_store.write() as session:
            fired, _ = sla_firings(rule, session, at)
            for f in fired:
                session.expunge(f)
            return fired

    first = run(NOW)
    assert [(f.thread_ids, f.title.split(":")[0]) for f in first] == [([soon], "SLA about to breach")]
    assert "runs out in 4m 00s" in first[0].reason
    assert run(NOW + timedelta(minutes=1)) == []  # the same warning is not repeated
    # The breach it warned of is the same episode of the thread: its firing is refreshed, nobody told twice.
    assert run(NOW + timedelta(minutes=6)) == []
    with sqlite_store.read() as session:
        (firing,) = session.exec(select(AlertFiring)).all()
    assert (firing.title.split(":")[0], firing.revision) == ("SLA breached", 0)
    assert firing.figures["overdue_minutes"] == 2.0 and "due_in_minutes" not in firing.figures
    with sqlite_store.write() as session:
        thread = session.get(Thread, soon)
        assert thread is not None
        thread.first_response_at = NOW + timedelta(minutes=7)
        session.add(thread)
    assert run(NOW + timedelta(minutes=8)) == []


@pytest.mark.parametrize(
    ("toml", "complaint"),
    [
        ('[[alerts.rules]]\nname = "x"\nkind = "tier"\nmin_tier = "severe"\n', "unknown tier 'severe'"),
        ('[[alerts.rules]]\nname = "x"\nkind = "terms"\nquery = "(refund"\n', "does not parse"),
        ('[[alerts.rules]]\nname = "x"\nkind = "volume"\n', "alerts.rules.0"),
        (
            '[[alerts.subscribers]]\nname = "oncall"\nurl = "json://localhost"\nrules = ["nope"]\n',
            "asks for rule 'nope', which is not configured",
        ),
        (
            '[[alerts.subscribers]]\nname = "oncall"\nurl = "json://localhost"\nquiet_hours = "22-7"\n',
            "alerts.subscribers.0.quiet_hours",
        ),
        (
            '[[alerts.subscribers]]\nname = "oncall"\nurl = "json://localhost"\ntimezone = "Mars/Olympus"\n',
            "unknown time zone",
        ),
    ],
)
def test_a_bad_rule_or_subscriber_is_refused_naming_the_key(tmp_path: Path, toml: str, complaint: str):
    path = tmp_path / "earful.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert complaint in str(caught.value)


def test_rules_and_subscribers_load_from_toml(tmp_path: Path):
    path = tmp_path / "earful.toml"
    path.write_text(
        """
[[alerts.rules]]
name = "critical"
kind = "tier"

[[alerts.rules]]
name = "incident"
kind = "incident"
min_customers = 4

[[alerts.subscribers]]
name = "pr-lead"
url = "mailto://u:p@example.com"
rules = ["incident"]
mode = "digest"
digest = "daily"
timezone = "Europe/Paris"
quiet_hours = "22:00-07:00"
""",
        encoding="utf-8",
    )
    alerts = load_settings(path).alerts
    assert [r.name for r in alerts.effective_rules()] == ["critical", "incident"]
    subscriber = alerts.subscriber("pr-lead")
    assert subscriber is not None and subscriber.wants("incident", "acme", "x")
    assert not subscriber.wants("critical", "acme", "x")


def test_a_subscriber_url_comes_from_the_secrets_file_or_environment_never_the_toml(
    tmp_path: Path, monkeypatch
):
    config = tmp_path / "earful.toml"
    config.write_text('[[alerts.subscribers]]\nname = "oncall"\nurl_env = "ONCALL_HOOK"\n', encoding="utf-8")
    secrets = tmp_path / "secrets.env"
    secrets.write_text("ONCALL_HOOK=slack://T000/B000/XXXX\n", encoding="utf-8")
    secrets.chmod(0o600)
    monkeypatch.setenv("EARFUL_SECRETS_FILE", str(secrets))
    monkeypatch.delenv("ONCALL_HOOK", raising=False)
    subscriber = load_settings(config).alerts.subscriber("oncall")
    assert subscriber is not None and subscriber.url.get_secret_value() == "slack://T000/B000/XXXX"
    monkeypatch.setenv("ONCALL_HOOK", "json://127.0.0.1:9/hook")  # the environment wins, as everywhere
    subscriber = load_settings(config).alerts.subscriber("oncall")
    assert subscriber is not None and subscriber.url.get_secret_value() == "json://127.0.0.1:9/hook"
    monkeypatch.delenv("ONCALL_HOOK")
    secrets.write_text("", encoding="utf-8")
    with pytest.raises(SettingsError, match="takes its URL from ONCALL_HOOK"):
        load_settings(config)


def test_a_customer_posting_again_before_an_answer_is_one_alert_and_after_an_answer_a_new_one(
    sqlite_store, make_mention
):
    settings = AlertSettings(rules=[TierRule(name="critical"), VipRule(name="vip", min_followers=1000)])
    first = fire(sqlite_store, settings, make_mention("1", text="my card was charged twice", tier="critical"))
    again = fire(
        sqlite_store,
        settings,
        make_mention("2", text="hello??", tier="critical", minutes=2),
        make_mention("3", text="answer me!!", tier="critical", minutes=3),
    )
    assert len(first) == 1 and again == []
    # The same run now trips a rule it had not: its subscribers hear it, the others are not told twice.
    bigger = fire(
        sqlite_store,
        settings,
        make_mention("4", text="still nothing", tier="critical", minutes=4, followers=5000),
    )
    assert [(f.rule, f.figures["rules"]) for f in bigger] == [("vip", ["vip"])]
    # The brand answers; the customer's next complaint is news again.
    fire(sqlite_store, settings, make_mention("5", text="we are on it", own=True, author="acme", minutes=5))
    later = fire(
        sqlite_store, settings, make_mention("6", text="it happened again", tier="critical", minutes=60)
    )
    assert [f.rule for f in later] == ["critical"]
