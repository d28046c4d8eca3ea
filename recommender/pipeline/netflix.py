"""Parsing the Netflix Prize text format with Spark's text reader.

Ratings files are blocks: a line ``MovieID:`` starts a movie, the lines after it are
``CustomerID,Rating,Date`` (rating 1 to 5, date ``YYYY-MM-DD``). Titles are
``MovieID,YearOfRelease,Title``: the year may be ``NULL``, the title runs to the end of
the line (commas included) and the file is Latin-1.

Which movie a line belongs to depends on the lines before it, which may sit in an earlier
input split, read by another task. Each line is tagged with its file, its split's start
offset (``_metadata.file_block_start``) and its position within the split
(``monotonically_increasing_id``, increasing within a task). The header in force is then
found in two steps that both stay small:

1. within a split: the last header at or before the line (a window per split, so no
   window partition is bigger than one split, unlike a window over a whole file);
2. for lines before a split's first header: the last header of the earlier splits of the
   same file, from a table with one row per split (thousands of rows for 100M ratings),
   broadcast back.

No line is read by two tasks (Hadoop's line reader gives a line straddling a split
boundary to the split it starts in), so no row is lost or counted twice.
"""

from pyspark.sql import Window
from pyspark.sql import functions as F

from recommender.limits import MAX_ID
from recommender.pipeline.parquet_dataset import Counted

HEADER = r"^(\d+):$"
RATING_LINE = r"^(\d+),(\d+),(\d{4}-\d{2}-\d{2})$"
TITLE_LINE = r"^(\d+),(\d{4}|NULL),(.*)$"
TITLES_ENCODING = "ISO-8859-1"
SECONDS_PER_DAY = 86400


def tagged_lines(spark, paths):
    """Trimmed non-blank lines with ``file``, ``split``, ``pos`` (order within the split) and ``header``."""
    lines = spark.read.text(paths).select(
        F.trim("value").alias("line"),
        F.col("_metadata.file_path").alias("file"),
        F.col("_metadata.file_block_start").alias("split"),
        F.monotonically_increasing_id().alias("pos"),
    )
    header = F.regexp_extract("line", HEADER, 1)
    return lines.filter(F.col("line") != "").withColumn(
        "header", F.when(header != "", header.try_cast("int"))
    )


def with_movie(lines):
    """``lines`` with ``movieId``: the last ``MovieID:`` header before each line, across splits."""
    in_split = Window.partitionBy("file", "split").orderBy("pos").rowsBetween(Window.unboundedPreceding, 0)
    lines = lines.withColumn("in_split", F.last("header", ignorenulls=True).over(in_split))
    last_per_split = lines.groupBy("file", "split").agg(
        F.max_by("header", F.when(F.col("header").isNotNull(), F.col("pos"))).alias("last_header")
    )
    earlier = Window.partitionBy("file").orderBy("split").rowsBetween(Window.unboundedPreceding, -1)
    carried = last_per_split.select(
        "file", "split", F.last("last_header", ignorenulls=True).over(earlier).alias("carried")
    )
    lines = lines.join(F.broadcast(carried), ["file", "split"], "left")
    return lines.withColumn("movieId", F.coalesce("in_split", "carried"))


def read_ratings(spark, paths, counted: Counted):
    """Ratings of Netflix-format ``paths``; malformed lines dropped and counted by reason in ``counted``.

    Returns
    -------
    DataFrame
        ``userId, movieId, rating, timestamp`` (midnight UTC of the date, in seconds).
    """
    lines = with_movie(tagged_lines(spark, paths)).filter(F.col("header").isNull())
    fields = [F.regexp_extract("line", RATING_LINE, group) for group in (1, 2, 3)]
    matched = F.regexp_extract("line", RATING_LINE, 0) != ""
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
