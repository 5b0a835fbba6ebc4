"""What an error means, in one place: a user's mistake, or what a database error says about the database.

Here in the store, the lowest layer, so every layer can raise `UserError` and every writer reads database
errors the same way. The rule `classify` encodes: only a database that is unreachable, full or locked is waited
out; a deadlock or a serialisation failure is retried at once; an error about one row (a value out of range, a
constraint, a tsvector too big, a Python value the driver cannot bind) puts that row aside and the rest of its
batch is stored. Anything not recognised is treated as the row's: waiting on it forever stalls every network.
"""

from __future__ import annotations

import errno
import sqlite3
from enum import StrEnum

from sqlalchemy import exc as sa_exc

from store.urls import redact, safe_url


class UserError(ValueError):
    """Raised on purpose for input or configuration the user can fix, with the fix in the message: the command
    line prints it as one sentence. Any other exception is a bug and keeps its traceback."""


class Fault(StrEnum):
    OUTAGE = "outage"  # the server or the file cannot be reached: wait, retry
    DISK_FULL = "disk full"  # wait for space, retry
    LOCKED = "locked"  # another writer holds a lock past our patience: wait, retry
    CONFLICT = "conflict"  # deadlock or serialisation failure: the transaction is retried at once
    SCHEMA = "schema"  # tables or columns this code expects are missing: wait (another version is migrating)
    ROW = "row"  # about the data written: put the row aside, store the rest

    @property
    def waits(self) -> bool:
        """Whether the write is retried (the database will be fine) rather than the row put aside."""
        return self is not Fault.ROW

    @property
    def waiting_for(self) -> str:
        """What a writer waiting on this fault waits for, in a status line's few words."""
        return _WAITING_FOR[self]


_WAITING_FOR = {
    Fault.OUTAGE: "the database to be reachable",
    Fault.DISK_FULL: "disk space for the database",
    Fault.LOCKED: "a lock another writer holds",
    Fault.CONFLICT: "another writer's transaction",
    Fault.SCHEMA: "the schema this version expects",
    Fault.ROW: "nothing (a row is put aside)",
}


# PostgreSQL's SQLSTATE codes (Appendix A of its manual), most specific first.
_PG_CODES = {
    "53100": Fault.DISK_FULL,  # disk_full
    "58030": Fault.DISK_FULL,  # io_error (a full or failing disk under the server)
    "40001": Fault.CONFLICT,  # serialization_failure
    "40P01": Fault.CONFLICT,  # deadlock_detected
    "55P03": Fault.LOCKED,  # lock_not_available (lock_timeout)
    "55006": Fault.LOCKED,  # object_in_use
    "57014": Fault.LOCKED,  # query_canceled (statement_timeout)
    "42501": Fault.OUTAGE,  # insufficient_privilege: the account, not the row
    "40003": Fault.OUTAGE,  # statement_completion_unknown
    "25006": Fault.CONFLICT,  # read_only_sql_transaction (a failover in progress)
}
_PG_CLASSES = {
    "08": Fault.OUTAGE,  # connection exception
    "57": Fault.OUTAGE,  # operator intervention: admin/crash shutdown, cannot connect now
    "53": Fault.OUTAGE,  # insufficient resources: out of memory, too many connections
    "58": Fault.OUTAGE,  # system error
    "XX": Fault.OUTAGE,  # internal error
    "3D": Fault.OUTAGE,  # invalid catalog name: no such database
    "28": Fault.OUTAGE,  # invalid authorization
    "40": Fault.CONFLICT,  # transaction rollback
    "25": Fault.CONFLICT,  # invalid transaction state
    "42": Fault.SCHEMA,  # undefined table or column...
    "22": Fault.ROW,  # data exception: too long, out of range, bad encoding, bad JSON
    "23": Fault.ROW,  # integrity constraint violation
    "54": Fault.ROW,  # program limit exceeded: a tsvector over 1 MB, an index row too big
}
# SQLite's primary result codes (the low byte of the extended code).
_SQLITE_CODES = {
    5: Fault.LOCKED,  # SQLITE_BUSY: busy_timeout ran out
    6: Fault.LOCKED,  # SQLITE_LOCKED
    7: Fault.OUTAGE,  # SQLITE_NOMEM
    8: Fault.OUTAGE,  # SQLITE_READONLY: the file or its directory is not writable
    10: Fault.OUTAGE,  # SQLITE_IOERR
    11: Fault.OUTAGE,  # SQLITE_CORRUPT
    13: Fault.DISK_FULL,  # SQLITE_FULL
    14: Fault.OUTAGE,  # SQLITE_CANTOPEN
    15: Fault.LOCKED,  # SQLITE_PROTOCOL
    17: Fault.SCHEMA,  # SQLITE_SCHEMA
    18: Fault.ROW,  # SQLITE_TOOBIG
    19: Fault.ROW,  # SQLITE_CONSTRAINT
    20: Fault.ROW,  # SQLITE_MISMATCH
    25: Fault.ROW,  # SQLITE_RANGE
    26: Fault.OUTAGE,  # SQLITE_NOTADB
}


def _root(exc: BaseException) -> BaseException:
    """The driver's own exception under SQLAlchemy's wrapper."""
    orig = getattr(exc, "orig", None)
    return orig if isinstance(orig, BaseException) else exc


def classify(exc: BaseException) -> Fault:
    """What `exc`, raised while reading or writing the store, says about the database (see the module)."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return Fault.OUTAGE
    if isinstance(exc, sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return Fault.OUTAGE  # no pooled connection came free, or one broke on checkout
    root = _root(exc)
    sqlstate = getattr(root, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        return _PG_CODES.get(sqlstate) or _PG_CLASSES.get(sqlstate[:2], Fault.ROW)
    if isinstance(root, sqlite3.Error):
        return _sqlite(root)
    if isinstance(root, OSError):
        return Fault.DISK_FULL if root.errno == errno.ENOSPC else Fault.OUTAGE
    if isinstance(exc, sa_exc.OperationalError):
        # A driver error with no code: psycopg failing to connect ("connection refused", "server closed the
        # connection unexpectedly") raises these.
        return Fault.OUTAGE
    return Fault.ROW


def _sqlite(root: sqlite3.Error) -> Fault:
    code = getattr(root, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in _SQLITE_CODES:
        return _SQLITE_CODES[code & 0xFF]
    message = str(root).lower()
    if "no such table" in message or "no such column" in message:
        return Fault.SCHEMA
    if isinstance(root, sqlite3.OperationalError) and ("locked" in message or "busy" in message):
        return Fault.LOCKED
    if isinstance(root, sqlite3.OperationalError) and not isinstance(root, sqlite3.IntegrityError):
        return Fault.OUTAGE if "disk" in message or "open" in message else Fault.ROW
    return Fault.ROW


def cause(exc: BaseException, url: str = "") -> str:
    """The driver's first line (without the statement SQLAlchemy appends), with any credential hidden."""
    root = _root(exc)
    text = str(root).strip()
    line = text.splitlines()[0].strip() if text else type(root).__name__
    return redact(line[:300], url) if url else line[:300]


def describe(exc: BaseException, url: str, fault: Fault | None = None) -> str:
    """One sentence for a person: what happened to the database, and what to do about it."""
    fault = fault or classify(exc)
    shown, why = safe_url(url), cause(exc, url)
    sqlite = shown.startswith("sqlite")
    if fault is Fault.DISK_FULL:
        where = "the disk holding the database file" if sqlite else "the database server's disk"
        return (
            f"the database {shown} is out of space: {why}. Fix: free space on {where}; earful waits and "
            "stores everything once there is room."
        )
    if fault is Fault.LOCKED:
        holder = (
            "another process holding a write transaction on the file (a second earful, a backup, a sqlite3 shell)"
            if sqlite
            else "a long transaction holding locks (pg_stat_activity shows it)"
        )
        return (
            f"the database {shown} is locked by another writer: {why}. Fix: usually none, earful retries; if "
            f"it lasts, look for {holder}."
        )
    if fault is Fault.CONFLICT:
        return (
            f"two writers collided on the database {shown} ({why}); earful retries the transaction. Fix: none "
            "needed unless it repeats for minutes."
        )
    if fault is Fault.SCHEMA:
        return (
            f"the database {shown} does not have the tables this earful expects: {why}. Fix: run every earful "
            "process at the same version (each migrates the schema when it starts)."
        )
    if fault is Fault.ROW:
        return f"the database refused it: {why}"
    if sqlite:
        fix = "check that the directory exists, is writable and the disk is not full, or set EARFUL_DATABASE__URL"
    else:
        fix = "check that the server is running and the URL is right (EARFUL_DATABASE__URL or [database] url)"
    return f"cannot open the database {shown}: {why}. Fix: {fix}."
