"""Retail purchase records (the public Online Retail data's columns) as an implicit dataset.

``InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country``:
cancellations (``InvoiceNo`` starting with ``C``), non-positive quantities and rows without
a customer are dropped and counted. A customer's value for an item is how many invoices
bought it (``count``) or the total quantity (``quantity``); its timestamp the last purchase.
"""

from pyspark.sql import Window
from pyspark.sql import functions as F

from recommender.limits import MAX_ID
from recommender.pipeline.parquet_dataset import Counted

COLUMNS = "InvoiceNo STRING, StockCode STRING, Description STRING, Quantity STRING, InvoiceDate STRING, " \
          "UnitPrice STRING, CustomerID STRING, Country STRING"
# The public file's dates are "12/1/2010 8:26"; other exports write ISO dates.
DATE_FORMATS = ("M/d/yyyy H:mm", "yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm")
VALUES = ("count", "quantity")


def read_purchases(spark, path, counted: Counted, since=None, encoding="UTF-8"):
    """Valid purchase rows: ``customer, code, description, quantity, invoice, timestamp``.

    ``since`` (a ``datetime.date``) keeps purchases on or after that day. Dates are read in
    the session's time zone (``spark.sql.session.timeZone``).
    """
    raw = spark.read.csv(path, schema=COLUMNS, header=True, quote='"', escape='"', encoding=encoding)
    when = F.coalesce(*[F.try_to_timestamp(F.trim("InvoiceDate"), F.lit(form)) for form in DATE_FORMATS])
    # Exports write customer ids as "17850" or "17850.0".
    customer = F.trim("CustomerID").try_cast("double")
    rows = raw.select(
        F.trim("InvoiceNo").alias("invoice"),
        F.upper(F.trim("StockCode")).alias("code"),
        F.trim("Description").alias("description"),
        F.trim("Quantity").try_cast("int").alias("quantity"),
        when.alias("when"),
        F.when(customer == F.floor(customer), customer.cast("long")).alias("customer"),
    )
    cancelled = F.coalesce(F.col("invoice").startswith("C"), F.lit(False))
    unparsable = ~cancelled & (
        F.col("invoice").isNull() | F.col("code").isNull() | (F.col("code") == "")
        | F.col("quantity").isNull() | F.col("when").isNull()
    )
    non_positive = ~cancelled & ~unparsable & (F.col("quantity") <= 0)
    no_customer = ~cancelled & ~unparsable & ~non_positive & ~F.coalesce(
        F.col("customer").between(0, MAX_ID), F.lit(False)
    )
    rows = counted.observe(rows, "purchases", **{
        "cancelled invoice": cancelled,
        "unparsable row": unparsable,
        "non-positive quantity": non_positive,
        "no customer": no_customer,
    })
    rows = rows.filter(~(cancelled | unparsable | non_positive | no_customer))
    if since is not None:
        rows = rows.filter(F.to_date("when") >= F.lit(since))
    return rows.withColumn("timestamp", F.unix_seconds("when")).withColumn("customer", F.col("customer").cast("int"))


def item_ids(spark, purchases, existing_movies):
    """Stable integer ids of stock codes: a code keeps the id it has; new codes get the next ids, in code order.

    Returns
    -------
    DataFrame
        ``movieId, title, genres, year, externalId`` of every code in ``purchases`` or ``existing_movies``;
        the title is the code's latest description.
    """
    latest = purchases.filter(F.col("description").isNotNull() & (F.col("description") != "")).groupBy("code").agg(
        F.max_by("description", "timestamp").alias("description")
    )
    codes = purchases.select("code").distinct().join(latest, "code", "left")
    if existing_movies is None:
        known = spark.createDataFrame([], "code STRING, known_id INT, known_title STRING")
        first_new = F.lit(0)
    else:
        known = existing_movies.select(
            F.col("externalId").alias("code"), F.col("movieId").alias("known_id"), F.col("title").alias("known_title")
        )
        first_new = F.lit(existing_movies.agg(F.max("movieId")).first()[0] or 0)
    codes = codes.join(known, "code", "full")
    # One window over the new codes alone: a catalog of thousands to a few million items.
    numbered = F.row_number().over(Window.orderBy("code"))
    new = codes.filter(F.col("known_id").isNull()).withColumn("movieId", (first_new + numbered).cast("int"))
    old = codes.filter(F.col("known_id").isNotNull()).withColumn("movieId", F.col("known_id"))
    return new.unionByName(old).select(
        "movieId", F.coalesce("description", "known_title", "code").alias("title"), F.lit("").alias("genres"),
        F.lit(None).cast("int").alias("year"), F.col("code").alias("externalId"),
    )


def purchase_values(purchases, catalog, value="count"):
    """One row per (customer, item): ``userId, movieId, rating`` (the value) and ``timestamp``."""
    if value not in VALUES:
        raise ValueError(f"value must be one of {', '.join(VALUES)}, got {value!r}")
    amount = F.countDistinct("invoice") if value == "count" else F.sum("quantity")
    ids = F.broadcast(catalog.select(F.col("externalId").alias("code"), "movieId"))
    return purchases.join(ids, "code").groupBy(F.col("customer").alias("userId"), "movieId").agg(
        amount.cast("double").alias("rating"), F.max("timestamp").alias("timestamp")
    )
