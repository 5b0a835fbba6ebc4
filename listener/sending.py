"""What every network's reply sender raises when the network does not take a reply: one type, so the outbox,
the CLI and the desk treat a failed send the same way whichever network it was."""

from __future__ import annotations


class SendError(RuntimeError):
    """The network did not take the reply. The message is safe to show and store: it never holds a credential.

    `retryable` says whether trying again later can help (rate limits, server errors, no connection).
    `duplicate` says the network refused it as a repeat of a post the account already made: the reply may well
    be there already (an earlier attempt got through), so the outbox looks for it instead of giving up."""

    def __init__(
        self, message: str, *, status: int | None = None, retryable: bool = False, duplicate: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.duplicate = duplicate
