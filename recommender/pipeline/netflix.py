"""Parsing the Netflix Prize text format with Spark's text reader.

Ratings files are blocks: a line ``MovieID:`` starts a movie, the lines after it are
``CustomerID,Rating,Date`` (rating 1 to 5, date ``YYYY-MM-DD``). Titles are
``MovieID,YearOfRelease,Title``: the year may be ``NULL``, the title runs to the end of
the line (commas included) and the file is Latin-1.

Which movie a line belongs to depends on the lines before it, which may sit in an earlier
input split, read by another task. Each line is tagged with its file (a hash of its path), its
split's start offset (``_metadata.file_block_start``) and its position (``monotonically_increasing_id``:
increasing within a task, so a split's lines are one interval of positions). The header in force
is then found without moving any line between tasks:

1. a first pass over the text keeps only what is small: per split, its first position, and the
   position of each header (one row per split and one per movie block);
2. on the driver, these become block starts: each header's position, and each split's first
   position with the last header of the earlier splits of its file;
3. the second pass finds each line's block start by binary search over the sorted positions
   (Spark ML's ``Bucketizer``, which runs in the JVM) and joins the block's movie, broadcast.

A window over the lines would do the same but shuffle and sort every line (most of the ETL's
time, measured in docs/pipeline.md). No line is read by two tasks (Hadoop's line reader gives a
line straddling a split boundary to the split it starts in), so no row is lost or counted twice;
both passes read the same splits in the same order, so they number the lines alike.
"""

import itertools
import logging
import math
import struct
import time

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recommender.limits import MAX_ID
from recommender.pipeline.parquet_dataset import Counted

log = logging.getLogger(__name__)

HEADER = r"^(\d+):$"
RATING_LINE = r"^(\d+),(\d+),(\d{4}-\d{2}-\d{2})$"
TITLE_LINE = r"^(\d+),(\d{4}|NULL),(.*)$"
TITLES_ENCODING = "ISO-8859-1"
SECONDS_PER_DAY = 86400
BLANKS = " \r"  # trimmed from each line: spaces, and the CR of a file written with CRLF


def tagged_lines(spark, paths):
    """Trimmed non-blank lines with ``file``, ``split``, ``pos`` (order within the split) and ``header``."""
    lines = spark.read.text(paths).select(
        F.trim("value", F.lit(BLANKS)).alias("line"),
        # A hash of the path, not the path: both passes carry it with every line.
        F.xxhash64("_metadata.file_path").alias("file"),
        F.col("_metadata.file_block_start").alias("split"),
        F.monotonically_increasing_id().alias("pos"),
    )
    # Only a line ending in ':' can be a header: the regular expression runs on those alone.
    header = F.when(F.col("line").endswith(":"), F.regexp_extract("line", HEADER, 1))
    return lines.filter(F.col("line") != "").withColumn(
        "header", F.when(header != "", header.try_cast("int"))
    )


def block_starts(lines):
    """``[(position, movieId)]`` sorted: where each block of lines of one movie starts.

    A split's first line starts a block of the header in force at the end of the earlier
    splits of its file (None before any header); each header starts its own.
    """
    started = time.perf_counter()
    # One row per header and one per split (its other lines), from a hash aggregation of fixed-width
    # columns: cheaper per line than collecting each split's headers into a list.
    at_header = F.when(F.col("header").isNotNull(), F.col("pos"))
    groups = lines.groupBy("file", "split", at_header.alias("at_header")).agg(
        F.min("pos").alias("first"), F.first("header").alias("header"),
    ).collect()
    splits = {}
    for group in groups:
        first, headers = splits.get((group.file, group.split), (group.first, []))
        if group.at_header is not None:
            headers.append((group.at_header, group.header))
        splits[(group.file, group.split)] = (min(first, group.first), headers)
    log.info("stage: %d headers in %d splits found in %.1fs", sum(len(h) for _, h in splits.values()), len(splits),
             time.perf_counter() - started)
    return starts_in_files(splits)


def starts_in_files(splits):
    """The block starts of ``{(file, split): (first position, [(position, header)])}``, sorted."""
    starts = {}
    for _, in_file in itertools.groupby(sorted(splits.items()), key=lambda item: item[0][0]):
        movie = None  # the header in force at the end of the earlier splits of the file
        for _, (first, headers) in in_file:
            starts[first] = movie
            for position, header in sorted(headers):
                starts[position] = movie = header  # a header on a split's first line wins
    return sorted(starts.items())


def with_movie(spark, lines):
    """``lines`` with ``movieId``: the last ``MovieID:`` header before each line, across splits."""
    starts = block_starts(lines)
    if not starts:
        return lines.withColumn("movieId", F.lit(None).cast("int"))
    blocks = spark.createDataFrame([(number, movie) for number, (_, movie) in enumerate(starts, 1)],
                                   "block INT, movieId INT")
    # Bucket k holds the positions from the k-th block start to the next one; bucket 0 (before
    # the first start) stays empty, as every split's first line is a start.
    located = bucketized(spark, lines.withColumn("position", F.col("pos").cast("double")), "position",
                         [-math.inf] + [float(position) for position, _ in starts] + [math.inf])
    located = located.withColumn("block", F.col("bucket").cast("int")).drop("position", "bucket")
    return located.join(F.broadcast(blocks), "block", "left").drop("block")


def bucketized(spark, frame, column, splits):
    """``frame`` with ``bucket``: the index of the interval of sorted ``splits`` that holds ``column``.

    Spark ML's Bucketizer (a binary search in the JVM; Spark SQL has no built-in that searches
    a sorted array). Built through py4j with the splits sent as one byte string: pyspark's
    Bucketizer would send them one py4j round trip per number (seconds for 10,000 blocks).
    """
    gateway = spark.sparkContext._gateway
    java_splits = gateway.new_array(gateway.jvm.double, len(splits))
    packed = bytearray(struct.pack(f">{len(splits)}d", *splits))
    gateway.jvm.java.nio.ByteBuffer.wrap(packed).asDoubleBuffer().get(java_splits)
    finder = gateway.jvm.org.apache.spark.ml.feature.Bucketizer().setSplits(java_splits)
    return DataFrame(finder.setInputCol(column).setOutputCol("bucket").transform(frame._jdf), spark)


def read_ratings(spark, paths, counted: Counted):
    """Ratings of Netflix-format ``paths``; malformed lines dropped and counted by reason in ``counted``.

    Returns
    -------
    DataFrame
        ``userId, movieId, rating, timestamp`` (midnight UTC of the date, in seconds).
    """
    lines = with_movie(spark, tagged_lines(spark, paths)).filter(F.col("header").isNull())
    # One regular expression per line says whether it is a rating line; its fields are then
    # the text between the commas (cheaper than a match per field).
    matched = F.col("line").rlike(RATING_LINE)
    fields = [F.substring_index("line", ",", 1), F.substring_index(F.substring_index("line", ",", 2), ",", -1),
              F.substring_index("line", ",", -1)]
    user, rating = fields[0].try_cast("int"), fields[1].try_cast("int")
    # try_to_timestamp and to_date in the same session time zone give back the date as written.
    day = F.to_date(F.try_to_timestamp(fields[2], F.lit("yyyy-MM-dd")))
    parsed = lines.select(
        matched.alias("matched"), user.alias("userId"), F.col("movieId"), rating.alias("rating"), day.alias("day")
    )
    unparsable = ~F.col("matched")
    no_movie = F.col("matched") & F.col("movieId").isNull()
    bad_rating = F.col("matched") & ~no_movie & ~F.coalesce(F.col("rating").between(1, 5), F.lit(False))
    bad_id = F.col("matched") & ~no_movie & ~bad_rating & ~F.coalesce(
        F.col("userId").between(0, MAX_ID) & F.col("movieId").between(0, MAX_ID), F.lit(False)
    )
    bad_date = F.col("matched") & ~no_movie & ~bad_rating & ~bad_id & F.col("day").isNull()
    parsed = counted.observe(parsed, "netflix ratings", **{
        "not a MovieID: header nor a CustomerID,Rating,Date line": unparsable,
        "rating line before any MovieID: header": no_movie,
        "rating not 1 to 5": bad_rating,
        "id out of range": bad_id,
        "invalid date": bad_date,
    })
    valid = ~(unparsable | no_movie | bad_rating | bad_id | bad_date)
    return parsed.filter(valid).select(
        "userId", "movieId", F.col("rating").cast("double").alias("rating"),
        (F.unix_date("day").cast("long") * SECONDS_PER_DAY).alias("timestamp"),
    )


def read_titles(spark, path, counted: Counted, encoding=TITLES_ENCODING):
    """The catalog of a ``MovieID,YearOfRelease,Title`` file in ``encoding``; bad lines counted.

    Spark's text reader only reads UTF-8, so the file goes through the CSV reader with a
    separator and quote that never occur: each line is one field, decoded as ``encoding``.
    """
    lines = spark.read.csv(path, schema="line STRING", sep="\u0001", quote="", encoding=encoding, header=False)
    line = F.trim("line")
    movie = F.regexp_extract(line, TITLE_LINE, 1).try_cast("int")
    year = F.regexp_extract(line, TITLE_LINE, 2)
    title = F.trim(F.regexp_extract(line, TITLE_LINE, 3))
    parsed = lines.filter(line != "").select(
        movie.alias("movieId"),
        F.when(year != "NULL", year.try_cast("int")).alias("year"),
        title.alias("title"),
    )
    valid = F.coalesce(F.col("movieId").between(0, MAX_ID), F.lit(False)) & (F.col("title") != "")
    parsed = counted.observe(parsed, "netflix titles", **{"title line not MovieID,YearOfRelease,Title": ~valid})
    return parsed.filter(valid).select(
        "movieId", "title", F.lit("").alias("genres"), "year", F.lit(None).cast("string").alias("externalId")
    )
