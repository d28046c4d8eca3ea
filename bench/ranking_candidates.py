"""Every ranking candidate on a validation split of the training data (to choose), then on the test split.

    spark-submit bench/ranking_candidates.py                      # bundled data, 80/20, seed 42
    spark-submit bench/ranking_candidates.py --json out.json --arrays out.npz

The data is split as ``evaluate.py --test-fraction 0.2 --seed 42`` splits it; the training
part is split again as ``tune.py`` does (validation fraction 0.2, seed + 1). Each phase
trains the served model on its fitting part, then measures on the served protocol
(``recommender.offline.candidates``): the served lists (``LiveModel.recommend``), the
ranking ALS with other confidence functions, rank and time decay (Spark), EASE over a grid
of item sets, preferences and lambdas, and blends of EASE with the ranking ALS. The
validation phase also measures the genre blend's weight on users cut to ten ratings, and
the sci-fi fan's count at each weight. Prints one table per phase; ``--arrays`` saves the
test phase's arrays for ``bench/candidate_latency.py`` (per-request top-10 latency).
"""

import argparse
import json
import logging
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from recommender.datasets.movielens import Dataset  # noqa: E402
from recommender.model.live_model import LiveModel  # noqa: E402
from recommender.model.params import ModelParams  # noqa: E402
from recommender.model.training import train  # noqa: E402
from recommender.offline import candidates as cand  # noqa: E402
from recommender.offline.served_ranking import K, most_popular_metrics, relevant_movies, served_ranking_metrics  # noqa: E402
from recommender.offline.splits import DEFAULT_DATASET, load_split  # noqa: E402
from recommender.spark_job import configure_logging, spark_job  # noqa: E402
from recommender.storage import params_file  # noqa: E402

log = logging.getLogger("ranking_candidates")

NDCG = f"ndcg_at_{K}"
SCI_FI_FAN = [260, 1196, 1210, 1214, 1200, 1240, 589, 541, 924, 480]  # the ten classics
GENRE_WEIGHTS = [0.0, 0.25, 0.5, 0.75, 1.0, 1.5]
# The ranking ALS with another preference (the served one: linear, shift 3, alpha 1, rank 32).
ALS_VARIANTS = {
    "linear shift 2.5": dict(kind="linear", shift=2.5),
    "log 1+a*log(1+v/0.5), v=max(r-3,0), a 2": dict(kind="log", shift=3.0, eps=0.5, alpha=2.0),
    "linear shift 3, time decay half-life 2 y": dict(kind="linear", shift=3.0, half_life_years=2.0),
}
EASE_TRANSFORMS = {
    "binary": lambda r: np.ones_like(r),
    "max(r-3,0)": lambda r: np.maximum(r - 3.0, 0.0),
}
# (items with at least this many ratings, preferences, lambdas): the small item set over the
# whole grid, the large one (a slower solve) where the last session found EASE best.
EASE_GRID = [(25, "binary", [100.0, 200.0, 400.0, 800.0]), (25, "max(r-3,0)", [100.0, 200.0, 400.0, 800.0]),
             (5, "max(r-3,0)", [200.0, 400.0])]
BLEND_WEIGHTS = [0.5, 1.0, 2.0]  # of z(ranking ALS) over z(EASE)
POPULARITY_PENALTIES = [0.1, 0.25]


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=DEFAULT_DATASET)
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", dest="split_seed", type=int, default=42)
    parser.add_argument("--validation-fraction", type=float, default=0.2)
    parser.add_argument("--json", help="write every phase's rows here")
    parser.add_argument("--arrays", help="write the test phase's arrays here (bench/candidate_latency.py)")
    args = parser.parse_args(argv)
    args.train = args.test = args.movies = None
    return args


def row(name, metrics, seconds=None, family=None):
    return {"candidate": name, "family": family or name, "ndcg": metrics[NDCG],
            "coverage": metrics[f"coverage_at_{K}"], "popularity_rank": metrics["mean_popularity_rank"],
            "train_seconds": seconds, "ms_per_user": metrics.get("ms_per_user")}


def run_phase(name, fit, holdout, movies, params, arrays=None, variants=ALS_VARIANTS, blend_keys=None):
    """Every candidate trained on ``fit`` and measured on ``holdout``: rows, the served model, its users, the
    EASE settings blended (``blend_keys``: validation's choice; None: choose here)."""
    log.info("phase %s", name)
    started = time.perf_counter()
    training = train(Dataset(fit, movies), params)
    seconds = time.perf_counter() - started
    if training.biases is not None:
        training.biases.unpersist()
    model = training.model
    relevant = relevant_movies(model, holdout)
    live = LiveModel()
    live.swap_model(model)
    measured = time.perf_counter()
    rows = [row("served: ranking ALS (LiveModel.recommend)", {
        **served_ranking_metrics(live, holdout), "ms_per_user": (time.perf_counter() - measured) * 1000 / len(relevant)
    }, seconds, "served")]
    rows.append(row("most popular", most_popular_metrics(model, holdout), family="popular"))
    served_als = cand.served_als_scorer(model)
    rows.append(row("served ranking ALS, scored here", cand.measure_scorer(model, served_als, relevant), family="ALS r32"))
    ease = {}
    for min_count, transform_name, lambdas in EASE_GRID:
        transform = EASE_TRANSFORMS[transform_name]
        items, column, matrix = cand.ease_inputs(model, min_count, transform)
        log.info("EASE on %d items ...", len(items))
        for lam in lambdas:
            solved = time.perf_counter()
            weights = cand.ease_weights(matrix, lam)
            solve_seconds = time.perf_counter() - solved
            scorer = cand.EaseScorer(model, items, column, weights, transform)
            label = f"EASE {transform_name}, lambda {lam:g}, {len(items)} items (>= {min_count})"
            ease[(min_count, transform_name, lam)] = (label, scorer, weights, items)
            rows.append(row(label, cand.measure_scorer(model, scorer, relevant), solve_seconds,
                            f"EASE {len(items)} items"))
    if blend_keys is None:  # validation: the best EASE of each item set gets the blends
        best = {}
        for key, (label, *_) in ease.items():
            ndcg = next(r["ndcg"] for r in rows if r["candidate"] == label)
            if key[0] not in best or ndcg > best[key[0]][1]:
                best[key[0]] = (key, ndcg)
        blend_keys = [key for key, _ in best.values()]
    log.info("blends ...")
    for key in blend_keys:
        label, scorer, weights, items = ease[key]
        entry = (scorer, None, None, None, weights, items)
        for weight in BLEND_WEIGHTS:
            blended = cand.blend_scorer(model, [(1.0, entry[0]), (weight, served_als)])
            rows.append(row(f"z({label}) + {weight:g} z(ranking ALS)", cand.measure_scorer(model, blended, relevant),
                            family=f"blend, EASE {len(entry[5])} items"))
            if weight == 1.0:
                for penalty in POPULARITY_PENALTIES:
                    penalized = cand.popularity_penalized(model, blended, penalty)
                    rows.append(row(f"z({label}) + {weight:g} z(ranking ALS) - {penalty:g} z(log count)",
                                    cand.measure_scorer(model, penalized, relevant),
                                    family=f"blend, EASE {len(entry[5])} items"))
    if arrays is not None:
        save_arrays(arrays, model, {ease[key][0]: ease[key] for key in blend_keys})
    genre_weights = genre_weight_rows(model, relevant)  # before the Spark fits: NumPy on the driver
    log.info("genre weights: %s", genre_weights)
    for label, variant in variants.items():
        log.info("ranking ALS %s ...", label)
        variant = dict(variant)
        settings = dict(rank=variant.pop("rank", params.ranking_rank), alpha=variant.pop("alpha", params.ranking_alpha),
                        reg_param=params.ranking_reg_param, iterations=params.ranking_iterations, seed=params.seed)
        scorer, fit_seconds = cand.fit_ranking_variant(fit, model, **settings, **variant)
        rows.append(row(f"ranking ALS {label}", cand.measure_scorer(model, scorer, relevant), fit_seconds,
                        f"ALS r{settings['rank']}"))
    return rows, genre_weights, relevant, blend_keys


def save_arrays(path, model, eases):
    """What bench/candidate_latency.py times: the model's users, ratings and factors, and EASE's weights."""
    extra = {}
    for number, (label, entry) in enumerate(eases.items()):
        extra[f"ease{number}_weights"], extra[f"ease{number}_items"] = entry[2], entry[3]
        extra[f"ease{number}_label"] = np.array(label)
    np.savez(path, rating_offsets=model.rating_offsets, rated_rows=model.rated_rows, rated_values=model.rated_values,
             ratings_count=model.catalog.ratings_count, has_factors=model.has_factors,
             rank_item_factors=model.rank_item_factors, rank_user_factors=model.rank_user_factors, **extra)


def genre_weight_rows(model, relevant):
    ndcg = cand.few_ratings_ndcg(model, relevant, GENRE_WEIGHTS)
    return [{"weight": w, "few_ratings_ndcg": ndcg[w], "fan_sci_fi": cand.fan_genre_count(model, SCI_FI_FAN, "Sci-Fi", w)}
            for w in GENRE_WEIGHTS]


def format_rows(rows, popular):
    lines = ["| candidate | NDCG@10 | x most-popular | coverage | training (s) | scoring (ms/user) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        seconds = "-" if r["train_seconds"] is None else f"{r['train_seconds']:.1f}"
        ms = "-" if r["ms_per_user"] is None else f"{r['ms_per_user']:.2f}"
        lines.append(f"| {r['candidate']} | {r['ndcg']:.4f} | {r['ndcg'] / popular:.2f} | "
                     f"{100 * r['coverage']:.2f} % | {seconds} | {ms} |")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    configure_logging(False)
    params = params_file.tuned_params()
    report = {"params": params.as_dict(), "load_average": os.getloadavg()}
    with spark_job("ranking-candidates") as spark:
        train_part, test, movies, description = load_split(spark, args)
        weights = [1 - args.validation_fraction, args.validation_fraction]
        fit, validation = train_part.randomSplit(weights, seed=args.split_seed + 1)  # as tune.py splits
        fit, validation = fit.cache(), validation.cache()
        variants, blend_keys = ALS_VARIANTS, None
        for phase, (fitting, holdout, arrays) in {"validation": (fit, validation, None),
                                                   "test": (train_part, test, args.arrays)}.items():
            rows, genre_weights, relevant, blend_keys = run_phase(phase, fitting, holdout, movies, params, arrays, variants,
                                                          blend_keys)
            # The test phase refits only the ALS variant validation ranked first (each is a Spark fit).
            als_rows = [r for r in rows if r["candidate"].startswith("ranking ALS ")]
            best_als = max(als_rows, key=lambda r: r["ndcg"])["candidate"].removeprefix("ranking ALS ")
            variants = {best_als: ALS_VARIANTS[best_als]} if best_als in ALS_VARIANTS else {}
            popular = next(r["ndcg"] for r in rows if r["family"] == "popular")
            report[phase] = {"rows": rows, "genre_weights": genre_weights}
            print(f"\n## {phase} ({len(relevant)} users)\n")
            print(format_rows(rows, popular))
            print("\n| genre weight | few-ratings NDCG@10 | fan's sci-fi in top-10 |\n| --- | --- | --- |")
            for g in report[phase]["genre_weights"]:
                print(f"| {g['weight']:g} | {g['few_ratings_ndcg']:.4f} | {g['fan_sci_fi']} |")
            sys.stdout.flush()
            if args.json:
                with open(args.json, "w", encoding="utf-8") as file:
                    json.dump(report, file, indent=1, default=float)
    report["data"] = description
    report["load_average_end"] = os.getloadavg()
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(report, file, indent=1, default=float)
    print(f"\nload average at start {report['load_average']}, at end {report['load_average_end']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
