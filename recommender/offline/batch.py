"""Top-N lists for every user of a saved model, written by Spark as CSV or Parquet.

The model's arrays are broadcast to the executors; the users are split into blocks, and
each block is scored by a task calling ``LiveModel.recommend``: the same NumPy
scoring and filter code the service answers with, so every list is exactly the one the
service would serve with that model and those filters. Python runs on the executors
because that code is NumPy over the driver-side arrays, which no built-in Spark
expression computes (the filters, new-movie places and clipping are the service's own).
On a cluster, ship the package: ``spark-submit --py-files recommender.zip recommend_all.py``.
"""

import dataclasses
import logging
import os
import threading
import time

from pyspark.sql import functions as F

from recommender.model.live_model import LiveModel
from recommender.storage.model_store import FORMAT, VERSION_FOLDER, ModelStore, read_json

log = logging.getLogger(__name__)

BLOCK_USERS = 2000  # users scored by one task: big enough to amortize a task, small enough to balance
OUTPUT_SCHEMA = "userId long, rank int, movieId long, title string, score double, predictedRating double"
FORMATS = ("csv", "parquet")
PROGRESS_SECONDS = 10


class BatchError(Exception):
    """A batch run that cannot start: no model, unreadable users file, output already there."""


def load_model(model_dir):
    """The model of ``model_dir``: one version folder, or a ``models`` folder's newest version."""
    path = os.path.abspath(model_dir)
    if VERSION_FOLDER.fullmatch(os.path.basename(path)) and os.path.exists(os.path.join(path, "meta.json")):
        meta = read_json(os.path.join(path, "meta.json"))
        if meta.get("format") != FORMAT:
            raise BatchError(f"{model_dir} is a model of format {meta.get('format')}; this code reads {FORMAT}")
        return ModelStore(os.path.dirname(path)).load(os.path.basename(path))
    model = ModelStore(path).load_newest()
    if model is None:
        raise BatchError(f"{model_dir} holds no saved model of format {FORMAT}")
    return model


def recommend_blocks(model_broadcast, count, min_ratings, filters, done, written):
    """The function each block of users runs: their user ids in, their top-N rows out."""
    def run(rows):
        live = LiveModel()  # the service's read path, over the broadcast arrays
        live.swap_model(model_broadcast.value)
        users = rows_written = 0
        for (user_id,) in rows:
            users += 1
            for rank, item in enumerate(live.recommend(user_id, count, min_ratings, filters=filters).items, 1):
                rows_written += 1
                yield user_id, rank, item.movie.movie_id, item.movie.title, item.score, item.rating
        done.add(users)
        written.add(rows_written)

    return run


def users_frame(spark, model, users_file):
    """A one-column ``userId`` frame: the model's users, or the ids of ``users_file`` (one a line)."""
    if users_file is None:
        ids = [(int(user_id),) for user_id in model.user_ids]
        return spark.createDataFrame(ids, "userId long"), len(ids)
    if not os.path.exists(users_file):
        raise BatchError(f"{users_file}: no such file")
    lines = spark.read.text(users_file).select(F.trim("value").alias("value")).where(F.col("value") != "")
    lines = lines.where(F.lower("value") != "userid")  # a header line
    users = lines.select(F.col("value").try_cast("long").alias("userId"), "value")
    bad = users.where(F.col("userId").isNull() | (F.col("userId") < 0)).select("value").first()
    if bad is not None:
        raise BatchError(f"{users_file}: {bad.value[:50]!r} is not a user id")
    users = users.select("userId").distinct()
    return users, users.count()


def export(spark, model, output, count=10, min_ratings=25, filters=None, users_file=None, output_format="csv"):
    """Write the top-``count`` list of every user (or of ``users_file``'s) to ``output``.

    Returns
    -------
    dict
        users, rows, seconds.
    """
    if output_format not in FORMATS:
        raise BatchError(f"format must be one of {', '.join(FORMATS)}")
    if os.path.exists(output):
        raise BatchError(f"{output} already exists; give a new path")
    started = time.perf_counter()
    users, total = users_frame(spark, model, users_file)
    blocks = max(spark.sparkContext.defaultParallelism, -(-total // BLOCK_USERS))
    log.info("top-%d of %d users of model %s in %d blocks", count, total, model.version, blocks)
    broadcast = spark.sparkContext.broadcast(dataclasses.replace(model, spark_model=None))  # arrays only
    done, written = spark.sparkContext.accumulator(0), spark.sparkContext.accumulator(0)
    # An RDD's mapPartitions, not mapInArrow/mapInPandas: those need pandas on every machine.
    blocks_rdd = users.repartition(blocks).rdd.mapPartitions(
        recommend_blocks(broadcast, count, min_ratings, filters, done, written)
    )
    lists = spark.createDataFrame(blocks_rdd, OUTPUT_SCHEMA).sortWithinPartitions("userId", "rank")
    stop = threading.Event()
    reporter = threading.Thread(target=report_progress, args=(done, total, stop), daemon=True)
    reporter.start()
    try:
        writer = lists.write.mode("errorifexists")
        if output_format == "csv":
            writer.option("header", True).option("escape", "\"").csv(output)  # RFC 4180: quotes doubled
        else:
            writer.parquet(output)
    finally:
        stop.set()
        broadcast.unpersist()
    rows = written.value
    seconds = time.perf_counter() - started
    log.info("%d rows for %d users written to %s in %.1fs (%.0f rows/s)", rows, total, output, seconds, rows / seconds)
    return {"users": total, "rows": rows, "seconds": seconds}


def report_progress(done, total, stop):
    while not stop.wait(PROGRESS_SECONDS):
        log.info("%d of %d users scored", done.value, total)
