"""Writing the Parquet dataset layout: upsert, deduplicate, write aside, then switch the manifest.

Every run reads the current version (if any), merges the new rows into it (one row per
(user, movie), the newest wins) and writes the result as a new version folder. Only once
that folder is complete does the manifest, replaced in one atomic rename, name it: a run
that dies midway leaves the previous version current and readable, and the next run
overwrites the half-written folder.
"""

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from pyspark.sql import Observation
from pyspark.sql import functions as F

from recommender.datasets import hadoop_fs
from recommender.datasets.movielens import join_path, resolve_path
from recommender.datasets.parquet import (
    MANIFEST, MANIFEST_FORMAT, MOVIES_DIR, RATINGS_DIR, is_parquet_dataset, read_manifest, version_path,
)

log = logging.getLogger(__name__)

RATING_FIELDS = ["userId", "movieId", "rating", "timestamp"]
MOVIE_FIELDS = ["movieId", "title", "genres", "year", "externalId"]
SECONDS_PER_DAY = 86400


@dataclass(frozen=True)
class WriteOptions:
    """How many files a version is written as; ``ratings_files`` None: the shuffle partitions."""

    ratings_files: int = None
    movies_files: int = 1


@dataclass
class Counted:
    """Metrics observed while a later job runs: ``name -> Observation`` of counts by reason."""

    observations: dict = field(default_factory=dict)

    def observe(self, frame, name, **conditions):
        """``frame`` observed: per keyword, the rows for which its condition holds."""
        observation = Observation(f"{name}-{uuid.uuid4().hex[:8]}")
        self.observations[name] = observation
        metrics = [F.count(F.when(condition, 1)).alias(reason) for reason, condition in conditions.items()]
        return frame.observe(observation, *metrics)

    def results(self):
        """``{reason: count}`` over every observation, reasons with no rows left out."""
        counts = {}
        for observation in self.observations.values():
            for reason, count in observation.get.items():
                if count:
                    counts[reason] = counts.get(reason, 0) + count
        return counts


def upsert_ratings(existing, incoming):
    """One row per (user, movie) of both: the newest timestamp wins, on a tie the incoming row.

    The order is one long (``timestamp * 2 + incoming``) so Spark hash-aggregates instead
    of sorting every rating, as ``max_by`` over a struct would.
    """
    rows = incoming.select(*RATING_FIELDS).withColumn("_new", F.lit(1))
    if existing is not None:
        rows = existing.select(*RATING_FIELDS).withColumn("_new", F.lit(0)).unionByName(rows)
    order = F.col("timestamp") * 2 + F.col("_new")
    return rows.groupBy("userId", "movieId").agg(
        F.max_by("rating", order).alias("rating"), F.max("timestamp").alias("timestamp")
    )


def upsert_movies(existing, incoming):
    """The catalog of both; a movie in ``incoming`` replaces the existing row of its id."""
    if incoming is None:
        return existing
    incoming = incoming.select(*MOVIE_FIELDS).dropDuplicates(["movieId"])
    if existing is None:
        return incoming
    return existing.select(*MOVIE_FIELDS).join(incoming.select("movieId"), "movieId", "left_anti").unionByName(incoming)


def with_month(ratings):
    """``year`` and ``month`` (UTC) of each rating's timestamp, the layout's partition columns.

    ``date_from_unix_date`` is free of the session's time zone, so a rating's folder never
    depends on where the job ran.
    """
    day = F.date_from_unix_date(F.floor(F.col("timestamp") / SECONDS_PER_DAY).cast("int"))
    return ratings.withColumn("year", F.year(day)).withColumn("month", F.month(day))


def current_version(spark, output):
    """``(manifest, ratings, movies)`` of the dataset at ``output``, or Nones if there is none."""
    if not is_parquet_dataset(spark, output):
        return None, None, None
    manifest = read_manifest(spark, output)
    ratings = spark.read.parquet(version_path(output, manifest, RATINGS_DIR)).select(*RATING_FIELDS)
    movies = spark.read.parquet(version_path(output, manifest, MOVIES_DIR)).select(*MOVIE_FIELDS)
    return manifest, ratings, movies


def write_dataset(spark, output, ratings, movies, counted, kind, implicit=False, options=WriteOptions()):
    """Upsert ``ratings`` and ``movies`` into the dataset at ``output`` (created if missing).

    Parameters
    ----------
    spark : SparkSession
    output : str
        The dataset directory, any path Spark reads.
    ratings : DataFrame
        New ``userId, movieId, rating, timestamp`` rows; those of movies in no catalog are
        dropped and counted.
    movies : DataFrame or None
        New catalog rows (``MOVIE_FIELDS``); None keeps the catalog as it is.
    counted : Counted
        Malformed-row counts observed while parsing, read once the write has run.
    kind : str
        What the input was (``netflix``, ``movielens``, ``purchases``); a merge keeps the dataset's.
    implicit : bool
        The values are counts, not ratings.
    options : WriteOptions

    Returns
    -------
    dict
        The new manifest.
    """
    output = resolve_path(output)
    manifest, old_ratings, old_movies = current_version(spark, output)
    number = manifest["number"] + 1 if manifest else 1
    version = f"v{number:06d}"
    catalog = upsert_movies(old_movies, movies)
    if catalog is None:
        raise ValueError(f"{output} has no dataset to merge into; create one with etl.py netflix, movielens or purchases")
    incoming = counted.observe(ratings, "incoming", incoming=F.lit(True))
    known = incoming.join(F.broadcast(catalog.select("movieId")), "movieId", "left_semi")
    known = counted.observe(known, "in catalog", **{"in catalog": F.lit(True)})
    merged = with_month(upsert_ratings(old_ratings, known))
    files = options.ratings_files or int(spark.conf.get("spark.sql.shuffle.partitions"))
    target = join_path(output, version)
    started = time.perf_counter()
    log.info("stage: parsing, upserting and writing ratings to %s (%d files at most)", target, files)
    (merged.repartition(files, "year", "month").write.mode("overwrite")
     .partitionBy("year", "month").parquet(join_path(target, RATINGS_DIR)))
    log.info("stage: ratings written in %.1fs", time.perf_counter() - started)
    catalog.coalesce(options.movies_files).write.mode("overwrite").parquet(join_path(target, MOVIES_DIR))
    new_manifest = build_manifest(spark, target, version, number, manifest, kind, implicit, counted.results())
    hadoop_fs.write_text_atomically(spark, join_path(output, MANIFEST), json.dumps(new_manifest, indent=2) + "\n")
    log.info("stage: %s now current: %s", version, new_manifest["counts"])
    remove_old_versions(spark, output, keep={version, manifest["version"] if manifest else version})
    return new_manifest


def build_manifest(spark, target, version, number, previous, kind, implicit, observed):
    """The manifest of the version just written at ``target``, with its counts read back."""
    started = time.perf_counter()
    ratings = spark.read.parquet(join_path(target, RATINGS_DIR))
    totals = ratings.agg(F.count(F.lit(1)).alias("ratings"), F.countDistinct("userId").alias("users")).first()
    movies = spark.read.parquet(join_path(target, MOVIES_DIR)).count()
    incoming = observed.pop("incoming", 0)
    outside = incoming - observed.pop("in catalog", 0)
    malformed = dict(observed, **({"movie not in the catalog": outside} if outside else {}))
    log.info("stage: counted in %.1fs", time.perf_counter() - started)
    return {
        "format": MANIFEST_FORMAT,
        "version": version,
        "number": number,
        "kind": previous["kind"] if previous and kind == "merge" else kind,
        "implicit": bool(previous["implicit"]) if previous and kind == "merge" else implicit,
        "counts": {"ratings": totals["ratings"], "users": totals["users"], "movies": movies},
        "last_run": {"kind": kind, "rows_read": incoming, "malformed": malformed},
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def remove_old_versions(spark, output, keep):
    """Delete version folders but ``keep`` (the current one and the one before, which a reader may still read)."""
    for name in hadoop_fs.list_names(spark, output):
        if name.startswith("v") and name[1:].isdigit() and name not in keep:
            log.info("removing old version %s", name)
            hadoop_fs.delete(spark, join_path(output, name))
