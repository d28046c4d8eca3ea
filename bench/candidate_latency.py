"""Per-request top-10 latency of each ranking candidate, on the arrays bench/ranking_candidates.py saved.

    python bench/candidate_latency.py /work/benchdata/quality-candidates/run1.npz --requests 2000

No Spark: each request is what a top-10 read costs on the driver for that candidate, the
user's score over the catalog, the served filter (the fitted ``min_ratings`` and the user's
rated movies) and the best 10 (``top_rows``): the ranking ALS's dot product (rank 32 and a
rank-64 stand-in of random factors), EASE's ``x_u B`` over its item set, and their blend of
standardized scores. Also times EASE's fit (the ``(X'X + lambda I)^-1`` solve). The HTTP
path adds the same cost to every candidate (docs/performance.md). Prints p50 and p99 (ms).
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from recommender.model.scoring import top_rows  # noqa: E402
from recommender.model.thresholds import fitted_min_ratings  # noqa: E402
from recommender.offline.candidates import ease_weights  # noqa: E402

K = 10


def standardized(scores, reference):
    chosen = scores[reference]
    return (scores - chosen.mean()) / (chosen.std() + 1e-9)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("arrays")
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args(argv)
    data = np.load(args.arrays)
    offsets, rated_rows, rated_values = data["rating_offsets"], data["rated_rows"], data["rated_values"]
    counts, has_factors = data["ratings_count"], data["has_factors"]
    item_factors, user_factors = data["rank_item_factors"], data["rank_user_factors"]
    wide_items = np.random.default_rng(0).standard_normal((len(counts), 64)).astype(np.float32)
    wide_users = np.random.default_rng(1).standard_normal((len(user_factors), 64)).astype(np.float32)
    reference = has_factors & (counts >= fitted_min_ratings(counts))
    eases = []
    for number in range(10):
        if f"ease{number}_weights" not in data:
            break
        items = data[f"ease{number}_items"]
        column = np.full(len(counts), -1, np.int64)
        column[items] = np.arange(len(items))
        eases.append((str(data[f"ease{number}_label"]), items, column, data[f"ease{number}_weights"]))
    users = [u for u in np.random.default_rng(2).integers(0, len(user_factors), args.requests)
             if not np.isnan(user_factors[u, 0])]

    def served(scores, rows):
        eligible = reference.copy()
        eligible[rows] = False
        return top_rows(np.where(eligible, scores, -np.inf), K)

    def als(u, rows, values, items=item_factors, factors=user_factors):
        return items @ factors[u]

    def ease_scorer(items, column, weights):
        def score(u, rows, values):
            cols = column[rows]
            keep = cols >= 0
            scores = np.full(len(counts), np.nan, np.float32)
            scores[items] = np.maximum(values[keep] - 3.0, 0.0) @ weights[cols[keep]]
            return scores
        return score

    def blend(ease, weight=1.0):
        def score(u, rows, values):
            e = ease(u, rows, values)
            known = np.isfinite(e) & reference
            z = (e - e[known].mean()) / (e[known].std() + 1e-9)
            return np.where(np.isfinite(z), z, -np.inf) + weight * standardized(als(u, rows, values), reference)
        return score

    candidates = {"ranking ALS rank 32 (served)": als,
                  "ranking ALS rank 64": lambda u, r, v: als(u, r, v, wide_items, wide_users)}
    for label, items, column, weights in eases:
        candidates[label] = ease_scorer(items, column, weights)
        candidates[f"blend z({label}) + z(ALS)"] = blend(ease_scorer(items, column, weights))
    print(f"load average {os.getloadavg()}; {len(users)} requests per candidate")
    print("| candidate | top-10 p50 (ms) | p99 (ms) |\n| --- | --- | --- |")
    for label, score in candidates.items():
        times = []
        for u in users:
            span = slice(offsets[u], offsets[u + 1])
            rows, values = rated_rows[span], rated_values[span]
            started = time.perf_counter()
            served(score(u, rows, values), rows)
            times.append((time.perf_counter() - started) * 1000)
        print(f"| {label} | {np.percentile(times, 50):.3f} | {np.percentile(times, 99):.3f} |")
    for label, items, _, _ in eases:
        users_count = len(offsets) - 1
        matrix = np.zeros((users_count, len(items)))
        column = np.full(len(counts), -1, np.int64)
        column[items] = np.arange(len(items))
        owners = np.repeat(np.arange(users_count), np.diff(offsets))
        keep = column[rated_rows] >= 0
        matrix[owners[keep], column[rated_rows[keep]]] = np.maximum(rated_values[keep] - 3.0, 0.0)
        started = time.perf_counter()
        ease_weights(matrix, 200.0)
        print(f"fit {label}: {time.perf_counter() - started:.2f} s")
    print(f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
