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

Every replica folds in the store in position order, its own writes included: a writer's
batch is applied only once every position before it has been (``durable``), and the
``Follower`` folds in the other replicas' batches as they appear (polling the head every
``POLL_SECONDS``). So every replica's state is the same function of the same sequence, and
the model's ``log_position`` is a position of the shared store.
"""

import logging
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
APPLY_TIMEOUT = 10.0  # a committed write waits this long at most for the positions before it
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


def connect(url, autocommit=True):
    return psycopg.connect(
        url, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT,
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

    A committed write is never cut off, so its ``generation`` is always the store's current one.
    """

    def __init__(self, store, generation, rows):
        self._store = store
        self._generation = generation
        self.rows = rows  # [(user_id, movie_id, rating, timestamp)]
        self.start = None  # first and last position, set at COMMIT
        self.end = None
        self.failure = None

    @property
    def generation(self):
        return self._store.generation if self.end is not None else self._generation


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
        self._own = {}  # start position -> Ticket committed here that its writer has yet to apply
        self._lock = threading.Lock()  # the pending list and _own
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
            ticket = Ticket(self, self._generation, rows)
            self._pending.append(ticket)
        return ticket

    def sync(self, ticket):
        """Return once ``ticket``'s batch is committed and every position before it is applied.

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
        """Committed, and every position before it folded in: the engine may apply it now."""
        return ticket.end is not None and self.size >= ticket.start - 1

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
        count = sum(len(ticket.rows) for ticket in group)
        try:
            connection = self._connection = self._connection or connect(self.url, autocommit=False)
            with connection.transaction():
                (head,) = connection.execute(
                    "UPDATE ratings_head SET position = position + %s RETURNING position", (count,)
                ).fetchone()
                spans = self._copy(connection, group, head - count)
                with self._lock:  # before COMMIT: the follower must never take them for another replica's
                    self._own.update((start, ticket) for ticket, (start, _) in zip(group, spans))
        except psycopg.Error as error:
            self._failed(group, error)
        for ticket, (start, end) in zip(group, spans):
            ticket.start, ticket.end = start, end
        self.records = head
        if self.failure is not None:
            log.info("ratings store %s: writes succeed again", self)
        self.failure = None
        if self.follower is not None:
            self.follower.wake()

    @staticmethod
    def _copy(connection, group, position):
        """COPY the group's rows in after ``position``; the (start, end) positions of each batch."""
        spans = []
        with connection.cursor().copy(
            "COPY ratings (position, batch, user_id, movie_id, rating, timestamp) FROM STDIN"
        ) as copy:
            for ticket in group:
                start = position + 1
                for user_id, movie_id, rating, timestamp in ticket.rows:
                    position += 1
                    copy.write_row((position, start, user_id, movie_id, rating, timestamp))
                spans.append((start, position))
        return spans

    def _failed(self, group, error):
        """The transaction failed: nothing of the group was acknowledged; cut every pending write off."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None  # the next write connects again
        reason = f"the ratings store could not commit: {first_line(error)}"
        if self.failure is None:
            log.error("ratings store %s: writes are failing: %s", self, reason)
        self.failure = reason
        with self._lock:
            for start in [start for start, ticket in self._own.items() if ticket in group]:
                del self._own[start]  # the outcome of a lost COMMIT is unknown: the follower decides
            group += self._pending
            self._pending = []
            self._generation += 1
        for ticket in group:
            ticket.failure = reason
        raise LogWriteError(reason, False) from error

    def _wait_for_turn(self, ticket):
        """Wait until the positions before ``ticket`` are folded in (other replicas' writes first)."""
        deadline = time.monotonic() + APPLY_TIMEOUT
        with self._applied:
            while self.size < ticket.start - 1:
                if time.monotonic() > deadline:
                    self.disown(ticket.start)  # the follower folds it in when it can
                    raise LogWriteError("committed, but the ratings before it could not be read back yet", False)
                if self.follower is not None:
                    self.follower.wake()
                self._applied.wait(0.01)

    # -- what the follower needs --------------------------------------------------------------

    def own_ticket(self, start):
        with self._lock:
            return self._own.get(start)

    def disown(self, start):
        """The writer of the batch at ``start`` will not apply it: the follower does."""
        with self._lock:
            self._own.pop(start, None)

    def applied(self):
        with self._applied:
            self._applied.notify_all()

    def wait_applied(self, timeout):
        with self._applied:
            self._applied.wait(timeout)

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


class Follower:
    """Folds the other replicas' committed ratings into ``engine`` in position order, in a thread.

    Its own writes it leaves to their writers (``LiveModel.add_ratings``) and waits for them,
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
        others = []
        for start, end, user_id, movie_ids, values in batches_of(rows):
            if start <= self.engine.accepted:
                self.store.disown(start)  # an own batch its writer applied meanwhile
                continue
            if self.store.own_ticket(start) is not None:
                self._apply(others)
                others = []
                if not self._wait_for_writer(start, end):
                    return True  # disowned: read again, it is folded in as anyone's
            else:
                others.append((user_id, movie_ids, values))
        self._apply(others)
        return True

    def _apply(self, batches):
        if batches:
            self.engine.apply_committed(batches)
        self.store.applied()

    def _wait_for_writer(self, start, end):
        """This replica's own batch: its writer applies it (it is its turn now); False if it will not."""
        self.store.applied()
        while self.engine.accepted < end and not self._stopping:
            if self.store.own_ticket(start) is None and self.engine.accepted < start:
                return False
            self.store.wait_applied(0.005)
        self.store.disown(start)
        return not self._stopping


def batches_of(rows):
    """(start, end, user_id, movie_ids, values) of each committed batch in ``rows``, in order."""
    positions = np.array([row[0] for row in rows], np.int64)
    batch = np.array([row[1] for row in rows], np.int64)
    boundaries = np.flatnonzero(np.r_[True, batch[1:] != batch[:-1]])
    movies = np.array([row[3] for row in rows], np.int64)
    values = np.array([row[4] for row in rows], np.float32)
    for begin, stop in zip(boundaries, [*boundaries[1:], len(rows)]):
        yield int(positions[begin]), int(positions[stop - 1]), int(rows[begin][2]), movies[begin:stop], values[begin:stop]
