"""Hold back the future: a dataset's newest ratings as a time-ordered stream, and the dataset without them.

``spark-submit etl.py futures --dataset DIR (--after DATE | --last FRACTION) --output FILE
[--remaining DIR]`` writes

- ``FILE``: the ratings at or after ``DATE`` (or the newest ``FRACTION`` of them), sorted by
  time, as a CSV with the dataset's columns (``userId,movieId,rating,timestamp``), which
  ``bench/replay.py`` streams into a running service;
- ``DIR`` (optional): a MovieLens-format directory (``ratings.csv``, ``movies.csv``) of
  everything else, the dataset the service starts on.

The ratings are the dataset as the service trains on it: one per (user, movie), the newest
winning, only for movies of the catalog.
"""

import argparse
import logging
import time
from datetime import datetime, timezone

from pyspark.sql import functions as F

from recommender.datasets.layouts import load_dataset
from recommender.datasets.movielens import RATINGS_COLUMNS, join_path, resolve_path

log = logging.getLogger(__name__)

TIME_ORDER = ("timestamp", "userId", "movieId")  # ties in time broken the same way on every run
# Relative rank error of --last's cutoff: exact at the bundled data's size, +-1,000 ratings at 100M.
QUANTILE_ERROR = 1e-5
CSV_OPTIONS = {"header": True, "quote": '"', "escape": '"', "encoding": "UTF-8"}


def instant(text):
    """Seconds since the epoch of an ISO date or date-time; one without a zone is UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD or date-time YYYY-MM-DDTHH:MM:SS: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


def fraction(text):
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be a fraction between 0 and 1 (exclusive), got {text!r}")
    return value


def add_futures_arguments(subparsers):
    """Add the ``futures`` subcommand to ``etl.py``'s subparsers; returns its parser."""
    parser = subparsers.add_parser(
        "futures", help="hold back the newest ratings as a time-ordered CSV to replay; the rest as a dataset",
    )
    parser.add_argument("--dataset", required=True, metavar="DIR",
                        help="the dataset to split (MovieLens CSV or etl.py's Parquet layout), any path Spark reads")
    split = parser.add_mutually_exclusive_group(required=True)
    split.add_argument("--after", type=instant, metavar="DATE",
                       help="hold back ratings at or after DATE (YYYY-MM-DD or an ISO date-time; UTC unless a zone is given)")
    split.add_argument("--last", type=fraction, metavar="FRACTION",
                       help="hold back the newest FRACTION of the ratings by time (e.g. 0.1)")
    parser.add_argument("--output", required=True, metavar="FILE", help="the held-back ratings, a CSV sorted by time")
    parser.add_argument("--remaining", metavar="DIR",
                        help="write the dataset without them here (MovieLens format: ratings.csv, movies.csv)")
    parser.add_argument("--shuffle-partitions", type=int, help="spark.sql.shuffle.partitions (default: 2 per core)")
    parser.add_argument("--checkpoint-dir", help="Spark checkpoint directory (default: a temporary one)")
    parser.add_argument("--verbose", action="store_true", help="show Spark's own INFO logs")
    return parser


def run_futures(spark, args):
    """The ``futures`` subcommand: split ``args.dataset`` and write the files; returns what was written."""
    dataset = load_dataset(spark, args.dataset)  # MovieLens CSV or etl.py's Parquet layout
    return write_futures(dataset, args.output, args.remaining, after=args.after, last=args.last)


def cutoff_of(ratings, after=None, last=None):
    """The first held-back second: ``after`` itself, or the time before which ``1 - last`` of the ratings fall."""
    if after is not None:
        return after
    boundary = ratings.approxQuantile("timestamp", [1.0 - last], QUANTILE_ERROR)
    if not boundary:
        raise ValueError("the dataset has no ratings")
    return int(boundary[0]) + 1


def write_futures(dataset, output, remaining=None, after=None, last=None):
    """Write the ratings from the cutoff on (``after`` seconds, or the newest ``last`` fraction) and the rest.

    Parameters
    ----------
    dataset : recommender.datasets.movielens.Dataset
    output : str
        The held-back ratings' CSV file, sorted by time.
    remaining : str, optional
        A directory for the dataset without them (``ratings.csv``, ``movies.csv``).
    after : int, optional
        Seconds since the epoch: hold back ratings at or after it.
    last : float, optional
        Hold back this newest fraction of the ratings instead.

    Returns
    -------
    dict
        Counts, the cutoff and the time range held back, and the paths written.

    Raises
    ------
    ValueError
        When either side of the split would be empty.
    """
    started = time.perf_counter()
    ratings = dataset.ratings.select(*RATINGS_COLUMNS).cache()
    try:
        cutoff = cutoff_of(ratings, after, last)
        is_future = F.col("timestamp") >= cutoff
        counts = ratings.agg(
            F.count(F.when(is_future, 1)).alias("future"), F.count(F.when(~is_future, 1)).alias("remaining"),
            F.min(F.when(is_future, F.col("timestamp"))).alias("first"), F.max("timestamp").alias("last"),
        ).first()
        check_sides(counts, cutoff)
        write_single_csv(ratings.filter(is_future), output, order=TIME_ORDER)
        if remaining:
            remaining = resolve_path(remaining)
            write_single_csv(ratings.filter(~is_future), join_path(remaining, "ratings.csv"), order=TIME_ORDER)
            write_single_csv(dataset.movies.select("movieId", "title", "genres"), join_path(remaining, "movies.csv"),
                             order=("movieId",))
    finally:
        ratings.unpersist()
    summary = {
        "futures": counts["future"], "remaining": counts["remaining"],
        "cutoff": iso(cutoff), "first": iso(counts["first"]), "last": iso(counts["last"]),
        "output": output, "remaining_dataset": remaining, "seconds": round(time.perf_counter() - started, 1),
    }
    log.info("held back %d ratings from %s on, %d remain (%.1fs)", counts["future"], summary["cutoff"],
             counts["remaining"], summary["seconds"])
    return summary


def check_sides(counts, cutoff):
    if counts["future"] == 0:
        raise ValueError(f"no ratings at or after {iso(cutoff)}: the newest is from {iso(counts['last'])}")
    if counts["remaining"] == 0:
        raise ValueError(f"every rating is at or after {iso(cutoff)}: nothing would remain to start the service on")


def iso(seconds):
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat().replace("+00:00", "Z")


def write_single_csv(frame, path, order):
    """Write ``frame`` sorted by ``order`` as one CSV file with a header at ``path`` (any path Spark writes).

    Spark writes a folder of part files; one sorted partition is written beside the target
    and its single part file renamed onto it, so a reader never sees a half-written file.
    """
    path = resolve_path(path)
    staging = path + ".writing"
    frame.repartition(1).sortWithinPartitions(*order).write.mode("overwrite").options(**CSV_OPTIONS).csv(staging)
    jvm = frame.sparkSession.sparkContext._jvm
    conf = frame.sparkSession.sparkContext._jsc.hadoopConfiguration()
    staging_path = jvm.org.apache.hadoop.fs.Path(staging)
    target = jvm.org.apache.hadoop.fs.Path(path)
    fs = staging_path.getFileSystem(conf)
    parts = [status.getPath() for status in fs.listStatus(staging_path) if status.getPath().getName().startswith("part-")]
    if len(parts) != 1:
        raise RuntimeError(f"expected one part file in {staging}, found {len(parts)}")
    fs.mkdirs(target.getParent())
    fs.delete(target, False)
    if not fs.rename(parts[0], target):
        raise OSError(f"could not move {parts[0].toString()} to {path}")
    fs.delete(staging_path, True)
