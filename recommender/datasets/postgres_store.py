"""Accepted ratings in PostgreSQL, shared by several serving replicas (``--ratings-store postgresql://...``).

The store honours the file ``RatingsLog``'s interface (``write``/``sync``/``durable``/``read``...),
so ``LiveModel`` uses either. A write is acknowledged after the transaction that holds it
commits; writers waiting at the same time share one transaction (group commit).

Commit order. Every rating has a ``position``: 1, 2, 3 ... in the order the transactions
committed, with no gaps. A transaction takes its positions by updating the one row of
``ratings_head``; that row lock is held until COMMIT, and a writer blocked on it reads the
committed value once it is released (READ COMMITTED re-reads an updated row), so positions
are handed out in commit order and position ``p`` is visible before ``p + 1`` exists. (A
``bigserial`` would not do: under concurrent transactions its values are not commit order.)
The whole transaction is one statement sent in one round trip (``COMMIT_GROUP``), so the row
lock is held only while the server runs it and flushes its commit, never while a client
process, busy under its GIL, gets round to its next command.

Every replica folds in the store in position order, its own writes included: the
``Follower`` reads every committed batch after the position folded in and applies it, and a
writer returns (its POST is acknowledged) once its transaction committed and the follower has
folded in everything up to its last position. So every replica's state is the same function
of the same sequence, and the model's ``log_position`` is a position of the shared store.
"""

import logging
import os
import socket
import threading
import time
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psycopg
import pyarrow as pa

from recommender.datasets.ratings_log import COLUMN_TYPES, LogWriteError

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS ratings (
    position bigint PRIMARY KEY,
    batch bigint NOT NULL,
    user_id bigint NOT NULL,
    movie_id bigint NOT NULL,
    rating double precision NOT NULL,
    timestamp bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS ratings_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    position bigint NOT NULL
);
INSERT INTO ratings_head VALUES (true, 0) ON CONFLICT DO NOTHING;
"""
SCHEMA_LOCK = 0x7265636f  # pg advisory lock keys: creating the schema, and retraining
RETRAIN_LOCK = 0x7265636f + 1
CONNECT_TIMEOUT = 3  # seconds; an unreachable store fails a write quickly instead of hanging it
STATEMENT_TIMEOUT_MS = 10_000
POLL_SECONDS = 0.05  # how often a follower looks for other replicas' ratings
APPLY_TIMEOUT = 10.0  # a committed write waits this long at most to be folded in
# One group's transaction, one statement in autocommit: take the positions (the head row lock,
# held to COMMIT) and insert the rows from arrays; answers the position before the group's first.
COMMIT_GROUP = """
WITH head AS (
    UPDATE ratings_head SET position = position + %(count)s RETURNING position - %(count)s AS base
), written AS (
    INSERT INTO ratings (position, batch, user_id, movie_id, rating, timestamp)
    SELECT base + r.n, base + r.batch, r.user_id, r.movie_id, r.rating, r.timestamp
    FROM head, unnest(%(batch)s::bigint[], %(user_id)s::bigint[], %(movie_id)s::bigint[],
                      %(rating)s::float8[], %(timestamp)s::bigint[])
         WITH ORDINALITY AS r(batch, user_id, movie_id, rating, timestamp, n)
)
SELECT base FROM head
"""
READ_BLOCK = 20_000  # positions a follower reads at once (whole batches: a batch is at most --max-lines)


def is_postgres_url(url):
    return url.startswith(("postgresql://", "postgres://"))


def redacted(url):
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def replica_name():
    """How this process names itself to the store (``application_name``): host and pid."""
    return f"recommender {socket.gethostname()} pid {os.getpid()}"


def connect(url, autocommit=True):
    return psycopg.connect(
        url, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT, application_name=replica_name(),
        options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
    )


def check_reachable(url):
    """Connect once and create the schema; raises ValueError with one line when the store cannot be used."""
    try:
        with connect(url) as connection:
            create_schema(connection)
    except psycopg.Error as error:
        raise ValueError(f"the ratings store {redacted(url)} cannot be used: {first_line(error)}") from None


def create_schema(connection):
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))  # replicas starting at once
        connection.execute(SCHEMA)


def first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class Ticket:
    """One batch written to the store: its positions once committed.

    The follower folds in every committed batch, its writer's own included, so ``LiveModel``
    never applies a ticket of this store itself: ``durable`` is always False, and once the
    ticket is committed (or cut off by a failed commit) its ``generation`` is no longer the
    store's, which makes ``LiveModel`` drop it from its queue unapplied.
    """

    def __init__(self, generation, rows):
        self._generation = generation
        self.rows = rows  # [(user_id, movie_id, rating, timestamp)]
        self.start = None  # first and last position, set at COMMIT
        self.end = None
        self.failure = None

    @property
    def generation(self):
        return self._generation if self.end is None else -1


class PostgresRatingsStore:
    """The shared ratings store at ``url``; ``follow(engine)`` then ``open()`` before use.

    ``size`` is the position the engine has folded in, which ``read`` takes as its bound.
    """

    def __init__(self, url):
        self.url = url
        self.failure = None
        self.records = 0
        self._engine = None
        self._generation = 0
        self._pending = []  # Tickets written, not yet committed, in write order
        self._lock = threading.Lock()  # the pending list
        self._sync_lock = threading.Lock()  # one commit at a time from this replica
        self._connection = None
        self._applied = threading.Condition()
        self.follower = None

    def __str__(self):
        return redacted(self.url)

    # -- the RatingsLog interface ------------------------------------------------------------

    def follow(self, engine):
        """The LiveModel folding this store in (its ``accepted`` is the position applied)."""
        self._engine = engine

    def open(self):
        """Create the schema if need be and return every committed rating, in commit order."""
        with connect(self.url) as connection:
            create_schema(connection)
        table = self.read()
        self.records = table.num_rows
        log.info("ratings store %s: %d ratings", self, table.num_rows)
        return table

    @property
    def size(self):
        return 0 if self._engine is None else self._engine.accepted

    @property
    def generation(self):
        return self._generation

    def read(self, size=None):
        """The ratings at positions 1 to ``size`` (default: all committed) as a table."""
        bound = "" if size is None else "WHERE position <= %s"
        with connect(self.url) as connection, connection.cursor(binary=True) as cursor:
            cursor.execute(
                f"SELECT user_id, movie_id, rating, timestamp FROM ratings {bound} ORDER BY position",
                () if size is None else (size,),
            )
            rows = cursor.fetchall()
        columns = list(zip(*rows)) if rows else [[] for _ in COLUMN_TYPES]
        return pa.table({name: pa.array(values, kind) for (name, kind), values in zip(COLUMN_TYPES.items(), columns)})

    def write(self, user_id, ratings, timestamp):
        """Queue one user's ratings for the next commit; ``sync`` commits them."""
        rows = [(int(user_id), int(movie_id), float(rating), int(timestamp)) for movie_id, rating in ratings]
        with self._lock:
            ticket = Ticket(self._generation, rows)
            self._pending.append(ticket)
        return ticket

    def sync(self, ticket):
        """Return once ``ticket``'s batch is committed and the follower has folded it in.

        Raises
        ------
        LogWriteError
            When its transaction failed (or the store is unreachable): it is not in the store.
        """
        with self._sync_lock:
            if ticket.end is None:
                if ticket.failure is not None:
                    raise LogWriteError(ticket.failure, False)
                self._commit_pending()
        self._wait_for_turn(ticket)

    def durable(self, ticket):
        """Never: the follower, not the engine's writer, folds in every committed batch (see ``Ticket``)."""
        return False

    def close(self):
        if self.follower is not None:
            self.follower.stop()
        with self._sync_lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    # -- group commit -------------------------------------------------------------------------

    def _commit_pending(self):
        """Commit every pending batch in one transaction, in write order."""
        with self._lock:
            group, self._pending = self._pending, []
        if not group:
            return
        columns = group_columns(group)
        try:
            self._connection = self._connection or connect(self.url)
            (base,) = self._connection.execute(COMMIT_GROUP, columns).fetchone()
        except psycopg.Error as error:
            self._failed(group, error)
        for ticket, offset in zip(group, ticket_offsets(group)):
            ticket.start, ticket.end = base + offset + 1, base + offset + len(ticket.rows)
        self.records = base + columns["count"]
        if self.failure is not None:
            log.info("ratings store %s: writes succeed again", self)
        self.failure = None
        if self.follower is not None:
            self.follower.wake()

    def _failed(self, group, error):
        """The transaction failed: nothing of the group was acknowledged; cut every pending write off."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None  # the next write connects again
        reason = f"the ratings store could not commit: {first_line(error)}"
        if self.failure is None:
            log.error("ratings store %s: writes are failing: %s", self, reason)
        self.failure = reason
        with self._lock:  # the outcome of a lost COMMIT is unknown: if it committed, the follower folds it in
            group += self._pending
            self._pending = []
            self._generation += 1
        for ticket in group:
            ticket.failure = reason
        raise LogWriteError(reason, False) from error

    def _wait_for_turn(self, ticket):
        """Wait until the follower has folded in ``ticket`` (and so every position before it)."""
        deadline = time.monotonic() + APPLY_TIMEOUT
        with self._applied:
            while self.size < ticket.end:
                if time.monotonic() > deadline:
                    raise LogWriteError("committed, but not yet read back from the store", False)
                if self.follower is not None:
                    self.follower.wake()
                self._applied.wait(POLL_SECONDS)

    # -- what the follower needs --------------------------------------------------------------

    def applied(self):
        with self._applied:
            self._applied.notify_all()

    @contextmanager
    def exclusive_retrain(self, blocking=False):
        """Hold the store-wide retrain lock (a pg advisory lock); yields whether it was taken.

        The lock is the session's, so a replica that dies mid-retrain releases it with its connection.
        """
        with connect(self.url) as connection:
            if blocking:
                connection.execute("SET statement_timeout = 0")  # waits for a retrain elsewhere
                connection.execute("SELECT pg_advisory_lock(%s)", (RETRAIN_LOCK,))
                taken = True
            else:
                (taken,) = connection.execute("SELECT pg_try_advisory_lock(%s)", (RETRAIN_LOCK,)).fetchone()
            try:
                yield taken
            finally:
                if taken and not connection.closed:
                    connection.execute("SELECT pg_advisory_unlock(%s)", (RETRAIN_LOCK,))


    def retraining_replica(self):
        """The name of another replica holding the retrain lock (training now), or None."""
        with connect(self.url) as connection:
            found = connection.execute(  # a bigint key's lock: its high half in classid, its low in objid
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND l.classid = %s AND l.objid = %s AND l.objsubid = 1",
                (RETRAIN_LOCK >> 32, RETRAIN_LOCK & 0xFFFFFFFF),
            ).fetchone()
        return found[0] if found and found[0] != replica_name() else None


class Follower:
    """Folds every committed rating of the store into ``engine`` in position order, in a thread.

    Its own replica's writes too: their writers wait for it (``PostgresRatingsStore.sync``),
    so the engine applies the whole store in one order.
    """

    def __init__(self, store, engine):
        self.store = store
        self.engine = engine
        self._wake = threading.Event()
        self._stopping = False
        self._connection = None
        self._thread = threading.Thread(target=self._run, name="store-follower", daemon=True)
        store.follower = self

    def start(self):
        self._thread.start()

    def wake(self):
        self._wake.set()

    def stop(self):
        self._stopping = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(5)
        if self._connection is not None:
            self._connection.close()

    def _run(self):
        unreachable = False
        while not self._stopping:
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
            try:
                while not self._stopping and self._catch_up():
                    pass
                unreachable = False
            except psycopg.Error as error:
                if not unreachable:
                    log.warning("ratings store %s cannot be read (%s); retrying", self.store, first_line(error))
                unreachable = True
                self._close()
                time.sleep(0.5)

    def _close(self):
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _catch_up(self):
        """Fold in the next block of committed ratings; False when there were none."""
        applied = self.engine.accepted
        self._connection = self._connection or connect(self.store.url)
        with self._connection.cursor(binary=True) as cursor:
            cursor.execute(  # whole batches only: a batch's rows all name its first position
                "SELECT position, batch, user_id, movie_id, rating FROM ratings "
                "WHERE position > %s AND batch <= %s ORDER BY position", (applied, applied + READ_BLOCK),
            )
            rows = cursor.fetchall()
        if not rows:
            return False
        self.engine.apply_committed([(user_id, movies, values) for _, _, user_id, movies, values in batches_of(rows)])
        self.store.applied()
        return True


def group_columns(group):
    """The ``COMMIT_GROUP`` parameters of the tickets in ``group``: one array per column, in write order."""
    columns = {"batch": [], "user_id": [], "movie_id": [], "rating": [], "timestamp": []}
    for ticket, offset in zip(group, ticket_offsets(group)):
        for user_id, movie_id, rating, timestamp in ticket.rows:
            columns["batch"].append(offset + 1)
            columns["user_id"].append(user_id)
            columns["movie_id"].append(movie_id)
            columns["rating"].append(rating)
            columns["timestamp"].append(timestamp)
    columns["count"] = len(columns["batch"])
    return columns


def ticket_offsets(group):
    """How many rows of ``group`` come before each ticket's."""
    offsets, offset = [], 0
    for ticket in group:
        offsets.append(offset)
        offset += len(ticket.rows)
    return offsets


def batches_of(rows):
    """(start, end, user_id, movie_ids, values) of each committed batch in ``rows``, in order."""
    positions = np.array([row[0] for row in rows], np.int64)
    batch = np.array([row[1] for row in rows], np.int64)
    boundaries = np.flatnonzero(np.r_[True, batch[1:] != batch[:-1]])
    movies = np.array([row[3] for row in rows], np.int64)
    values = np.array([row[4] for row in rows], np.float32)
    for begin, stop in zip(boundaries, [*boundaries[1:], len(rows)]):
        yield int(positions[begin]), int(positions[stop - 1]), int(rows[begin][2]), movies[begin:stop], values[begin:stop]
