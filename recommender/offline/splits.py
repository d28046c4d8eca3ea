"""The data of offline jobs: a dataset split at random, or train and test files as given."""

import os

from recommender.datasets.layouts import load_dataset
from recommender.datasets.movielens import load_ratings, read_movies, resolve_path
from recommender.datasets.checks import check_dataset, check_file

DEFAULT_DATASET = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "data", "ml-latest-small"
)


def add_data_arguments(parser):
    """Options choosing the evaluation data: a dataset to split, or train and test files."""
    group = parser.add_argument_group("data: --dataset to split, or --train and --test")
    group.add_argument("--dataset", help=f"dataset directory to split, MovieLens CSV or etl.py Parquet (default {DEFAULT_DATASET})")
    group.add_argument("--test-fraction", type=float, default=0.2, help="held-out share of --dataset's ratings")
    group.add_argument("--seed", dest="split_seed", type=int, default=42, help="seed of --dataset's random split")
    group.add_argument("--train", help="training ratings CSV (userId,movieId,rating,timestamp)")
    group.add_argument("--test", help="test ratings CSV, same format")
    group.add_argument("--movies", help="movies CSV for --train/--test (default: movies.csv beside --train)")


def check_data_arguments(parser, args):
    if (args.train is None) != (args.test is None):
        parser.error("--train and --test go together")
    if args.train is not None and args.dataset is not None:
        parser.error("give either --dataset or --train/--test, not both")
    if not 0 < args.test_fraction < 1:
        parser.error(f"--test-fraction must be between 0 and 1, got {args.test_fraction}")
    if args.train is None and args.dataset is None:
        args.dataset = DEFAULT_DATASET


def check_data_files(args):
    """The data options name files that exist (local paths; others are Spark's to read); StartupError if not."""
    if args.train is None:
        check_dataset(args.dataset)
        return
    check_file(args.train, "training ratings file")
    check_file(args.test, "test ratings file")
    if args.movies:
        check_file(args.movies, "movies file")


def load_split(spark, args):
    """Cached, materialized ``(train, test, movies, description)`` as the data options say."""
    if args.train is not None:
        movies_path = args.movies or os.path.join(os.path.dirname(os.path.abspath(args.train)), "movies.csv")
        if "://" not in movies_path and not os.path.exists(movies_path):
            raise SystemExit(f"error: {movies_path} not found; give the catalog with --movies FILE")
        movies = read_movies(spark, resolve_path(movies_path))
        train = load_ratings(spark, resolve_path(args.train), movies).cache()
        test = load_ratings(spark, resolve_path(args.test), movies).cache()
        description = {"train": args.train, "test": args.test, "movies": movies_path}
    else:
        dataset = load_dataset(spark, args.dataset)
        movies = dataset.movies
        # Cached and counted first, and never unpersisted (that would drop the parts' caches
        # too): randomSplit over a recomputed groupBy gives overlapping splits.
        ratings = dataset.ratings.cache()
        ratings.count()
        train, test = ratings.randomSplit([1 - args.test_fraction, args.test_fraction], seed=args.split_seed)
        train, test = train.cache(), test.cache()
        description = {"dataset": args.dataset, "test_fraction": args.test_fraction, "split_seed": args.split_seed}
    if train.count() == 0 or test.count() == 0:
        raise SystemExit("error: the training or the test part has no valid ratings")
    return train, test, movies.cache(), description
