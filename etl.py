"""Netflix-format, MovieLens and retail data into the Parquet dataset layout the service trains from.

    spark-submit etl.py netflix --input combined_data_1.txt combined_data_2.txt --titles movie_titles.csv --output DIR
    spark-submit etl.py movielens --input data/ml-latest-small --output DIR
    spark-submit etl.py purchases --input online_retail.csv --output DIR [--value quantity] [--since 2011-01-01]
    spark-submit etl.py merge --input state/ratings-log.csv --output DIR
    spark-submit etl.py merge --input postgresql://host/db --output DIR    (the shared ratings store)
    spark-submit etl.py futures --dataset DIR --last 0.1 --output futures.csv --remaining DIR

Every run upserts into DIR (one rating per user and movie, the newest wins) and switches to
the new version only once it is complete (``futures`` writes a CSV and a MovieLens directory
instead: the newest ratings to replay and the dataset without them). See docs/pipeline.md and
docs/replay.md.
"""

import argparse
import datetime
import json
import logging
import sys

from recommender.datasets.postgres_store import is_postgres_url
from recommender.pipeline import jobs
from recommender.pipeline.futures import add_futures_arguments, run_futures
from recommender.pipeline.netflix import TITLES_ENCODING
from recommender.pipeline.parquet_dataset import WriteOptions
from recommender.pipeline.purchases import VALUES
from recommender.spark_job import configure_logging, spark_job

log = logging.getLogger("etl")


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def iso_date(text):
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def add_common(parser):
    parser.add_argument("--output", required=True, help="the Parquet dataset directory (created or upserted), any path Spark reads")
    parser.add_argument("--shuffle-partitions", type=positive_int, help="spark.sql.shuffle.partitions (default: 2 per core)")
    parser.add_argument("--ratings-files", type=positive_int, help="most ratings files per version (default: the shuffle partitions; a month is never split)")
    parser.add_argument("--movies-files", type=positive_int, default=1, help="movies files per version (default 1)")
    parser.add_argument("--checkpoint-dir", help="Spark checkpoint directory (default: a temporary one)")
    parser.add_argument("--verbose", action="store_true", help="show Spark's own INFO logs")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="{netflix,movielens,purchases,merge,futures}")
    netflix = kinds.add_parser("netflix", help="Netflix Prize text format: 'MovieID:' blocks of CustomerID,Rating,Date")
    netflix.add_argument("--input", nargs="+", required=True, metavar="FILE", help="ratings files (or globs)")
    netflix.add_argument("--titles", required=True, metavar="FILE", help="MovieID,YearOfRelease,Title file")
    netflix.add_argument("--titles-encoding", default=TITLES_ENCODING, help=f"its encoding (default {TITLES_ENCODING})")
    movielens = kinds.add_parser("movielens", help="a MovieLens directory (ratings.csv, movies.csv)")
    movielens.add_argument("--input", required=True, metavar="DIR", help="the MovieLens directory")
    retail = kinds.add_parser("purchases", help="Online Retail purchase records, as an implicit dataset")
    retail.add_argument("--input", required=True, metavar="FILE",
                        help="CSV: InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country")
    retail.add_argument("--value", choices=VALUES, default="count",
                        help="a customer's value for an item: invoices that bought it (count, default) or total quantity")
    retail.add_argument("--since", type=iso_date, metavar="DATE", help="only purchases on or after DATE (YYYY-MM-DD)")
    merge = kinds.add_parser("merge", help="upsert a ratings CSV (userId,movieId,rating,timestamp) into a dataset")
    merge.add_argument("--input", required=True, metavar="FILE",
                       help="e.g. the service's ratings-log.csv, or its --ratings-store postgresql://... URL")
    for sub in (netflix, movielens, retail, merge):
        add_common(sub)
    add_futures_arguments(kinds)
    return parser.parse_args(argv)


def run(spark, args):
    if args.kind == "futures":
        return run_futures(spark, args)
    options = WriteOptions(ratings_files=args.ratings_files, movies_files=args.movies_files)
    if args.kind == "netflix":
        return jobs.netflix_job(spark, args.input, args.titles, args.output, options, args.titles_encoding)
    if args.kind == "movielens":
        return jobs.movielens_job(spark, args.input, args.output, options)
    if args.kind == "purchases":
        return jobs.purchases_job(spark, args.input, args.output, args.value, args.since, options)
    if is_postgres_url(args.input):
        return jobs.merge_store_job(spark, args.input, args.output, options)
    return jobs.merge_job(spark, args.input, args.output, options)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    configure_logging(args.verbose)
    try:
        with spark_job(f"etl-{args.kind}", args.checkpoint_dir, args.verbose) as spark:
            if args.shuffle_partitions:
                spark.conf.set("spark.sql.shuffle.partitions", str(args.shuffle_partitions))
            manifest = run(spark, args)
    except ValueError as error:  # missing input, nothing to merge into, a bad value
        print(f"etl.py {args.kind}: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # a Spark failure: its first line, not the Java trace
        log.debug("ETL failed", exc_info=True)
        print(f"etl.py {args.kind}: failed: {str(error).strip().splitlines()[0][:300]}", file=sys.stderr)
        return 1
    print(json.dumps(manifest, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
