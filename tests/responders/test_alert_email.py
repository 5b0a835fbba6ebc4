"""Alerts and the weekly report by e-mail, through apprise's mailto:// plugin to a real SMTP server (aiosmtpd) on
127.0.0.1 that asks for a login, as a company relay would."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from pydantic import SecretStr
from sqlmodel import col, select

from responders.alerts import AlertSettings
from responders.delivery import deliver_pending, send_test
from responders.firing import record_firing
from responders.subscribers import Subscriber, route_firing
from store import Store
from store.models import AlertEvent

T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
USER, PASSWORD = "earful-relay", "s3cret-relay-pass"


class Mailbox:
    """What the SMTP server accepted: one parsed message per envelope."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


def _login(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (USER.encode(), PASSWORD.encode())
    # handled=False: the server answers 535 itself (handled=True would leave the client waiting for a reply).
    return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox, port = Mailbox(), free_port()
    # Plain SMTP with a login, no TLS: the test has no certificate; apprise's mode=insecure says so.
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, auth_require_tls=False, authenticator=_login
    )
    controller.start()
    yield mailbox, port
    controller.stop()


def mail_url(port: int, password: str = PASSWORD) -> str:
    return (
        f"mailto://{USER}:{password}@127.0.0.1:{port}"
        "?from=earful@example.com&to=oncall@example.com&mode=insecure"
    )


def settings_for(url: str, **options: Any) -> AlertSettings:
    return AlertSettings(subscribers=[Subscriber(name="oncall", url=SecretStr(url), **options)])


def text_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def test_an_alert_arrives_as_a_plain_text_email(sqlite_store: Store, smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    settings = settings_for(mail_url(port))
    with sqlite_store.write() as session:
        firing = record_firing(
            session=session,
            rule="urgent-mention",
            kind="tier",
            key="mention:1",
            title="Critical complaint about Acme on X from @jane",
            reason="Critical complaint about Acme on X from @jane (12,400 followers): urgency 95",
            now=T0,
            brand="acme",
            network="x",
            figures={"urgency": 95},
            examples=[{"handle": "jane", "network": "x", "text": '<b>charged 3 times</b> =HYPERLINK("x")'}],
        )
        assert firing is not None
        route_firing(firing, session=session, settings=settings, now=T0)

    report = deliver_pending(sqlite_store, settings, now=T0)

    assert report.delivered == 1
    (message,) = mailbox.messages
    assert mailbox.recipients == [["oncall@example.com"]]
    assert message["Subject"] == "Critical complaint about Acme on X from @jane"
    assert message["From"] == "earful@example.com"
    body = text_part(message)
    assert "Critical complaint about Acme on X from @jane (12,400 followers): urgency 95" in body
    assert "urgency: 95" in body
    assert '- @jane on X: <b>charged 3 times</b> =HYPERLINK("x")' in body
    assert message.get_body(preferencelist=("html",)) is None, "text only: mention text is never markup"


def test_the_weekly_report_arrives_with_its_files(
    sqlite_store: Store, smtp: tuple[Mailbox, int], tmp_path: Path
) -> None:
    mailbox, port = smtp
    settings = settings_for(mail_url(port), weekly_report=True)
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
    csv = tmp_path / "threads.csv"
    csv.write_text("\ufeffthread,network,status\n12,x,open\n", encoding="utf-8")
    # What the weekly report job writes: a firing naming the files, one "report" delivery per subscriber.
    with sqlite_store.write() as session:
        firing = record_firing(
            session=session,
            rule="weekly-report",
            kind="report",
            key="2026-W47",
            title="earful weekly report 2026-W47",
            reason="Week 2026-W47: 1,204 mentions, 31% negative",
            now=T0,
            figures={"week": "2026-W47", "attachments": [str(pdf), str(csv)]},
        )
        assert firing is not None
        session.add(
            AlertEvent(
                rule="weekly-report",
                subscriber="oncall",
                firing_id=firing.id,
                kind="report",
                title=firing.title,
                body="Week 2026-W47: 1,204 mentions, 31% negative. The report and the threads are attached.\n",
                status="pending",
                created_at=T0,
            )
        )

    assert deliver_pending(sqlite_store, settings, now=T0).delivered == 1

    (message,) = mailbox.messages
    assert message["Subject"] == "earful weekly report 2026-W47"
    assert "The report and the threads are attached." in text_part(message)
    files = {part.get_filename(): part for part in message.iter_attachments()}
    assert set(files) == {"report.pdf", "threads.csv"}
    assert files["report.pdf"].get_content_type() == "application/pdf"
    assert files["report.pdf"].get_payload(decode=True) == pdf.read_bytes()
    assert files["threads.csv"].get_payload(decode=True) == csv.read_bytes()


def test_a_refused_login_fails_cleanly_and_the_error_keeps_no_secret(
    sqlite_store: Store, smtp: tuple[Mailbox, int], caplog: pytest.LogCaptureFixture
) -> None:
    mailbox, port = smtp
    wrong = settings_for(mail_url(port, password="wrong-password-123"))
    caplog.set_level("DEBUG")

    error = send_test(wrong.subscribers[0], wrong)

    assert mailbox.messages == []
    assert error == 'Connection error while submitting email to "***"'
    assert "wrong-password-123" not in caplog.text
    # Fixed in settings: the same subscriber name now gets through.
    right = settings_for(mail_url(port))
    assert send_test(right.subscribers[0], right) is None
    (message,) = mailbox.messages
    assert message["Subject"] == "earful test alert"
    assert "if you can read this, oncall receives earful alerts" in text_part(message)
    with sqlite_store.read() as session:
        assert session.exec(select(AlertEvent).order_by(col(AlertEvent.id))).all() == [], (
            "tests store nothing"
        )
