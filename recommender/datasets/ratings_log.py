"""The durable write path: an append-only CSV log of accepted ratings, fsynced before any is acknowledged.

The file has the dataset's own columns and a header (``userId,movieId,rating,timestamp``),
so Spark, pyarrow or a spreadsheet read it as it is.

The contract ``LiveModel`` relies on (another ratings store, PostgreSQL's say, keeps the same):

- ``write(user_id, ratings, timestamp) -> ticket``: append one user's batch of ``(movie_id,
  rating)`` pairs, in the order of calls, not yet durable; raises ``LogWriteError`` leaving
  nothing of the batch behind. A ticket has a ``generation``.
- ``sync(ticket)``: return once that batch (and every batch written before it) is durable;
  concurrent callers may share one flush (group commit). Raises ``LogWriteError`` when the
  flush failed: the batch is then not in the store, and its writer must not acknowledge it.
- ``durable(ticket)``: whether that batch is durable (False when a failed flush cut it off).
- ``generation``: raised each time a failed flush cuts unflushed batches off, so a waiting
  batch of an older generation that is not ``durable`` is known to be gone.
- ``read(size)``, ``size``: the records in the first ``size`` units of the store (a snapshot).
- ``failure``: why writes fail, None while they succeed; ``close()``.
- Optional hooks, for metrics: ``on_fsync(writes, seconds)`` is called after each flush with
  how many batches it made durable and how long it took; ``on_commit(seconds)`` after each
  ``sync`` that returns, with how long that writer waited. Either may be None.
"""

import errno
import io
import logging
import os
import threading
import time
from dataclasses import dataclass

import pyarrow as pa
from pyarrow import csv as pacsv

from recommender.datasets.movielens import RATINGS_COLUMNS
from recommender.durability import fsync_directory

log = logging.getLogger(__name__)

ARROW_TYPES = {"INT": pa.int32(), "LONG": pa.int64(), "DOUBLE": pa.float64()}
COLUMN_TYPES = {name: ARROW_TYPES[kind] for name, kind in RATINGS_COLUMNS.items()}
HEADER = (",".join(RATINGS_COLUMNS) + "\n").encode("ascii")
DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class LogWriteError(Exception):
    """The log could not be written or fsynced; the batch is not in it (nothing to acknowledge).

    ``disk_full`` tells a full disk or a file-size limit (507) from other failures such as
    EIO or a read-only file system (503).
    """

    def __init__(self, reason, disk_full):
        super().__init__(reason)
        self.reason = reason
        self.disk_full = disk_full

    @classmethod
    def of(cls, error, doing):
        return cls(f"the ratings log could not be {doing}: {error.strerror or error}", error.errno in DISK_FULL)


@dataclass(frozen=True)
class Ticket:
    """Where a write ended in the log, and which cut of the log it belongs to."""

    generation: int  # raised each time a failed fsync cuts the unsynced tail off
    end: int


class RatingsLog:
    """Append-only ratings log at ``path``; ``open()`` it before use.

    ``write`` appends in order; ``sync`` returns once what was written is on disk. Writers
    waiting at the same time share one fsync (group commit), so concurrent POSTs do not
    queue behind each other's disk flushes: while one fsync runs, the batches written
    meanwhile wait, and the next fsync covers them all. A batch is durable only once an
    fsync that began after its write returned: ``sync`` takes the file's size before the
    fsync as what that fsync covers.

    A failed write is cut back off at once; a failed fsync cuts the whole unsynced tail
    off (every writer waiting on it fails), so the file never keeps a torn record or one
    that was not acknowledged, and the next write simply tries again. ``failure`` says
    why writes are failing, None once one succeeded again.
    """

    def __init__(self, path):
        self.path = str(path)
        self.records = 0  # complete records in the file
        self.size = 0  # bytes of complete records, header included
        self.failure = None
        self.on_fsync = None  # called with (writes, seconds) after each fsync: see the module's docstring
        self.on_commit = None  # called with (seconds) after each sync that returns
        self._writes = 0  # batches written, and those of them known to be on disk
        self._synced_writes = 0
        self._synced = 0  # bytes known to be on disk
        self._synced_records = 0
        self._generation = 0
        self._cuts = {}  # generation -> the size its unsynced tail was cut back to
        self._torn = False  # a failed write could not be cut back yet
        self._fd = None
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()

    def open(self):
        """Repair a torn tail, open for appending and return the complete records.

        Returns
        -------
        pyarrow.Table
            Every complete record, in the order written.
        """
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        if not os.path.exists(self.path) or os.path.getsize(self.path) == 0:
            self._create()
        self._cut_torn_tail()
        self._synced = self.size
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        table = self.read()
        self.records = self._synced_records = table.num_rows
        log.info("ratings log %s: %d ratings", self.path, self.records)
        return table

    def _create(self):
        with open(self.path, "wb") as new:
            new.write(HEADER)
            new.flush()
            os.fsync(new.fileno())
        fsync_directory(os.path.dirname(os.path.abspath(self.path)))

    def _cut_torn_tail(self):
        """A crash mid-append leaves a last line without its newline: drop that part line."""
        with open(self.path, "rb+") as existing:
            data = existing.read()
            complete = data.rfind(b"\n") + 1
            if complete < len(HEADER):  # even the header is torn
                existing.seek(0)
                existing.truncate()
                existing.write(HEADER)
                complete = len(HEADER)
            elif complete < len(data):
                log.warning("ratings log %s: dropping a torn last line %r", self.path, data[complete:][:100])
                existing.truncate(complete)
            existing.flush()
            os.fsync(existing.fileno())
        self.size = complete

    def read(self, size=None):
        """The records in the first ``size`` bytes (default: all complete ones) as a table."""
        with open(self.path, "rb") as existing:
            data = existing.read(self.size if size is None else size)
        skipped = []

        def skip(row):
            skipped.append(row.text)
            return "skip"

        try:
            table = pacsv.read_csv(
                io.BytesIO(data),
                parse_options=pacsv.ParseOptions(invalid_row_handler=skip),
                convert_options=pacsv.ConvertOptions(column_types=COLUMN_TYPES, include_columns=list(COLUMN_TYPES)),
            )
        except pa.ArrowInvalid:  # a damaged line with the right field count; never refuse to start
            table = parse_leniently(data, skipped)
        if skipped:
            log.warning("ratings log %s: skipped %d unreadable lines", self.path, len(skipped))
        return table

    def write(self, user_id, ratings, timestamp):
        """Append one user's ratings (not yet synced).

        Returns
        -------
        Ticket
            To ``sync`` on.

        Raises
        ------
        LogWriteError
            When the file cannot be written; nothing of the batch stays in it.
        """
        lines = "".join(f"{user_id},{movie_id},{rating!r},{timestamp}\n" for movie_id, rating in ratings)
        data = lines.encode("ascii")
        with self._lock:
            try:
                if self._torn:
                    os.ftruncate(self._fd, self.size)
                    self._torn = False
                write_all(self._fd, data)
            except OSError as error:
                self._torn = True
                self._cut_back(self.size)
                raise self._failed(LogWriteError.of(error, "written")) from error
            self.size += len(data)
            self.records += len(ratings)
            self._writes += 1
            return Ticket(self._generation, self.size)

    def _cut_back(self, size):
        """Cut the file back to ``size`` bytes; if even that fails, the next write tries again."""
        try:
            os.ftruncate(self._fd, size)
            self._torn = False
        except OSError as error:
            log.error("ratings log %s: could not cut back to %d bytes (%s); will retry", self.path, size, error)

    def sync(self, ticket):
        """Return once the write of ``ticket`` is on disk, fsyncing if no one else did.

        Raises
        ------
        LogWriteError
            When the fsync failed, for this or an earlier writer: the write is no longer in the log.
        """
        started = time.perf_counter()
        if not self.durable(ticket):  # an fsync that covered it may already have returned
            with self._sync_lock:
                if not self.durable(ticket):
                    self._fsync(ticket)
        if self.on_commit is not None:
            self.on_commit(time.perf_counter() - started)

    def _fsync(self, ticket):
        """One fsync covering every write so far, ``ticket``'s included; the caller holds the sync lock."""
        if ticket.generation != self._generation:
            raise LogWriteError(self.failure or "the ratings log was cut back after a failed fsync", False)
        with self._lock:
            written, records, writes = self.size, self.records, self._writes  # what this fsync covers
        started = time.perf_counter()
        try:
            os.fsync(self._fd)
        except OSError as error:
            self._drop_unsynced()
            raise self._failed(LogWriteError.of(error, "fsynced")) from error
        batch, self._synced_writes = writes - self._synced_writes, writes
        self._synced, self._synced_records = written, records
        self.failure = None
        if self.on_fsync is not None:
            self.on_fsync(batch, time.perf_counter() - started)

    def _drop_unsynced(self):
        """After a failed fsync nothing unsynced can be trusted to be on disk: cut it all off."""
        with self._lock:
            self._cuts[self._generation] = self._synced
            self._generation += 1
            self.size, self.records, self._writes = self._synced, self._synced_records, self._synced_writes
            self._torn = True
            self._cut_back(self._synced)

    def _failed(self, error):
        if self.failure is None:
            log.error("ratings log %s: writes are failing: %s", self.path, error.reason)
        self.failure = error.reason
        return error

    @property
    def generation(self):
        """Raised each time a failed fsync cuts the unsynced tail off."""
        return self._generation

    def durable(self, ticket):
        """Whether the write of ``ticket`` is on disk (False also when it was cut off)."""
        if ticket.generation == self._generation:
            return ticket.end <= self._synced
        return ticket.end <= self._cuts[ticket.generation]

    def append(self, user_id, ratings, timestamp):
        """Append one user's ratings and return once they are on disk."""
        self.sync(self.write(user_id, ratings, timestamp))

    def close(self):
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def write_all(descriptor, data):
    """os.write until all of ``data`` is written (a short write raises, as the disk is full)."""
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view)
        if written == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]


def parse_leniently(data, skipped):
    """Parse line by line, collecting the lines that are not four numbers in ``skipped``."""
    columns = {name: [] for name in COLUMN_TYPES}
    for line in data.decode("utf-8", "replace").splitlines()[1:]:
        try:
            user_id, movie_id, rating, timestamp = line.split(",")
            values = (int(user_id), int(movie_id), float(rating), int(timestamp))
        except ValueError:
            skipped.append(line)
            continue
        for name, value in zip(COLUMN_TYPES, values):
            columns[name].append(value)
    return pa.table({name: pa.array(values, COLUMN_TYPES[name]) for name, values in columns.items()})

