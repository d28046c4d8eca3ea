"""One-user fold-in on the driver at the 5M dataset's size: the cached Y'Y against computing it per write.

    python bench/fold_in.py                      # 14,000 movies, ranking rank 32, rating rank 20
    python bench/fold_in.py --movies 100000

A model of random factors (tests/support/synthetic_model.py: the shapes a training gives,
no Spark) is prepared as a swap prepares it; then a new user's batch of 10 ratings is folded
into both models (``fold_in``, what a POST pays), the ranking half-step alone with the
cached Y'Y, and the same half-step computing Y'Y from the movie factors as it did before.
Prints microseconds per call (median of 5 rounds).
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from recommender.model import fold_in  # noqa: E402
from tests.support.synthetic_model import synthetic_model  # noqa: E402


def microseconds(call, count):
    """Median over 5 rounds of ``count`` calls, in microseconds per call."""
    call()
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(count):
            call()
        rounds.append((time.perf_counter() - started) / count * 1e6)
    return statistics.median(rounds)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--movies", type=int, default=14_000)
    parser.add_argument("--rank", type=int, default=20)
    parser.add_argument("--ranking-rank", type=int, default=32)
    parser.add_argument("--count", type=int, default=1000, help="calls per round of the cached paths")
    args = parser.parse_args(argv)
    model = synthetic_model(args.movies, users=10, rank=args.rank, ranking_rank=args.ranking_rank)
    started = time.perf_counter()
    fold_in.prepare(model)
    prepared = (time.perf_counter() - started) * 1e3
    rng = np.random.default_rng(1)
    movie_ids = model.catalog.movie_ids[rng.choice(args.movies, 10, replace=False)]
    values = (rng.integers(1, 11, 10) / 2).astype(np.float32)
    rows = model.catalog.rows(movie_ids)
    nothing = np.empty(0, np.int64), np.empty(0, np.float32)
    params = model.params
    preferences = np.maximum(values.astype(np.float64) - params["ranking_rating_shift"], 0.0)
    print(f"{args.movies} movies, rank {args.rank}, ranking rank {args.ranking_rank}; prepare (Y'Y) {prepared:.1f} ms")
    print(f"fold_in, both models, 10 ratings:   {microseconds(lambda: fold_in.fold_in(model, *nothing, movie_ids, values), args.count):8.1f} us")
    print(f"ranking half-step, cached Y'Y:      {microseconds(lambda: fold_in.fold_in_ranking_user(model, rows, values), args.count):8.1f} us")
    uncached = microseconds(lambda: fold_in.solve_implicit_user_factors(
        model.rank_item_factors, model.has_factors, rows, preferences, params["ranking_reg_param"],
        params["ranking_alpha"],
    ), max(1, args.count // 20))
    print(f"ranking half-step, Y'Y per call:    {uncached:8.1f} us (before the cache)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
