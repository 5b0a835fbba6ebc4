"""An earful process of its own that flushes the outbox with the real sender of a network (a desk, or `earful
serve`'s outbox loop), for the tests that need separate processes:

    python outbox_process.py flush DATABASE_URL NETWORK BASE_URL LOGIN FIRST_LISTED READY_FILE GO_FILE
        says it is ready (imports done, signed in) by creating READY_FILE, waits for GO_FILE, then flushes, so
        two of them start sending at the same moment; prints the ids of the replies it settled
    python outbox_process.py die-after-posting DATABASE_URL NETWORK BASE_URL LOGIN FIRST_LISTED
        dies by SIGKILL the moment the network has taken the first reply, before earful can record it
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from outbox_kit import sender_for

from responders.outbox import Outbox, Sender
from store import Store


class DiesAfterPosting:
    def __init__(self, sender: Sender) -> None:
        self.sender = sender

    def account(self) -> str | None:
        return self.sender.account()

    def find_reply(self, in_reply_to_native_id: str, text: str, own_handle: str | None) -> str | None:
        return self.sender.find_reply(in_reply_to_native_id, text, own_handle)

    def send_reply(self, text: str, in_reply_to_native_id: str) -> str:
        self.sender.send_reply(text, in_reply_to_native_id)
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("still alive after SIGKILL")


def main() -> None:
    mode, url, network, base_url, login, first_listed, *files = sys.argv[1:]
    sender: Sender = sender_for(network, base_url, login)
    if mode == "die-after-posting":
        sender = DiesAfterPosting(sender)
    outbox = Outbox(Store(url), {network: sender}, own_handle=lambda _thread: first_listed)
    if files:
        ready, go = (Path(f) for f in files)
        sender.account()  # signed in before the start, as a running desk would be
        ready.touch()
        deadline = time.monotonic() + 60
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
    settled = outbox.flush()
    print(" ".join(str(reply.id) for reply in settled))


if __name__ == "__main__":
    main()
