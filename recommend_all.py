"""``spark-submit recommend_all.py`` writes the top-N list of every user of a saved model.

    spark-submit recommend_all.py --model-dir state/models --output top10.csv
    spark-submit recommend_all.py --model-dir state/models/20260101T000000.000000Z \\
        --users users.txt --count 20 --format parquet --genre Comedy --exclude-popular 100 --new 2

``--model-dir`` is a state's ``models`` folder (its newest version is used) or one version
folder. CSV columns: userId,rank,movieId,title,score,predictedRating, with a header; Spark
writes a folder of part files. On a cluster, ship the package with ``--py-files``
(see docs/discovery.md).
"""

import argparse
import logging
import sys

from recommender.limits import DEFAULT_COUNT, DEFAULT_MIN_RATINGS
from recommender.model.errors import FilterError
from recommender.model.filters import Filters
from recommender.offline.batch import FORMATS, BatchError, export, load_model
from recommender.spark_job import configure_logging, spark_job

log = logging.getLogger("recommend_all")


def movie_ids(text):
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected movie ids separated by commas, got {text[:100]!r}") from None


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Top-N recommendations for every user of a saved model.")
    parser.add_argument("--model-dir", required=True, help="a state's models folder (newest version) or one version folder")
    parser.add_argument("--output", required=True, help="where to write (a new path)")
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help="movies per user (default %(default)s)")
    parser.add_argument("--format", choices=FORMATS, default="csv")
    parser.add_argument("--users", help="a file of user ids, one a line (default: every user of the model)")
    parser.add_argument("--min-ratings", type=int, default=DEFAULT_MIN_RATINGS, help="default %(default)s")
    parser.add_argument("--genre", action="append", default=[], help="only movies of this genre (repeatable: any)")
    parser.add_argument("--exclude", type=movie_ids, default=(), help="never these movie ids (commas)")
    parser.add_argument("--include", type=movie_ids, help="only these movie ids (commas)")
    parser.add_argument("--exclude-popular", type=int, default=0, help="drop the n most-rated movies")
    parser.add_argument("--new", type=int, default=0, help="reserve up to n places for the newest movies")
    parser.add_argument("--verbose", action="store_true", help="show Spark's own INFO logs")
    args = parser.parse_args(argv)
    if args.count < 1 or args.min_ratings < 0:
        parser.error("--count must be at least 1 and --min-ratings at least 0")
    args.filters = Filters(tuple(args.genre), args.exclude, args.include, args.exclude_popular, args.new)
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    configure_logging(args.verbose)
    try:
        model = load_model(args.model_dir)
        filters = args.filters.check(model)  # an unknown genre fails before Spark starts working
        with spark_job("recommender-batch", verbose=args.verbose) as spark:
            export(spark, model, args.output, args.count, args.min_ratings, filters, args.users, args.format)
    except (BatchError, FilterError, OSError) as error:
        print(f"recommend_all.py: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
