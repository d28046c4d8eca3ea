"""The durable write path: an append-only CSV log of accepted ratings, fsynced per write.

The file has the dataset's own columns and a header (``userId,movieId,rating,timestamp``),
so Spark, pyarrow or a spreadsheet read it as it is.
"""

import io
import logging
import os
import threading

import pyarrow as pa
from pyarrow import csv as pacsv

from recommender.datasets.movielens import RATINGS_COLUMNS
from recommender.durability import fsync_directory

log = logging.getLogger(__name__)

ARROW_TYPES = {"INT": pa.int32(), "LONG": pa.int64(), "DOUBLE": pa.float64()}
COLUMN_TYPES = {name: ARROW_TYPES[kind] for name, kind in RATINGS_COLUMNS.items()}
HEADER = (",".join(RATINGS_COLUMNS) + "\n").encode("ascii")


class RatingsLog:
    """Append-only ratings log at ``path``; ``open()`` it before use.

    ``write`` appends in order; ``sync`` returns once what was written is on disk. Writers
    waiting at the same time share one fsync (group commit), so concurrent POSTs do not
    queue behind each other's disk flushes.
    """

    def __init__(self, path):
        self.path = str(path)
        self.records = 0  # complete records in the file
        self.size = 0  # bytes of complete records, header included
        self._synced = 0  # bytes known to be on disk
        self._file = None
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
        self._file = open(self.path, "ab")
        table = self.read()
        self.records = table.num_rows
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
        """Append one user's ratings (not yet synced); return the log's size after them."""
        lines = "".join(f"{user_id},{movie_id},{rating!r},{timestamp}\n" for movie_id, rating in ratings)
        data = lines.encode("ascii")
        with self._lock:
            self._file.write(data)
            self._file.flush()
            self.size += len(data)
            self.records += len(ratings)
            return self.size

    def sync(self, size):
        """Return once the first ``size`` bytes are on disk, fsyncing if no one else did."""
        with self._sync_lock:
            if self._synced >= size:
                return
            written = self.size  # everything written so far is covered by this fsync
            os.fsync(self._file.fileno())
            self._synced = written

    def append(self, user_id, ratings, timestamp):
        """Append one user's ratings and return once they are on disk."""
        self.sync(self.write(user_id, ratings, timestamp))

    def close(self):
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


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

