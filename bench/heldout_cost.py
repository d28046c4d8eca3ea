"""What the model catalog's held-out metrics cost per retrain, side by side with a plain training.

    spark-submit bench/heldout_cost.py                 # the bundled ml-latest-small
    spark-submit bench/heldout_cost.py --dataset DIR

Trains once with ``train`` (no held-out share) and once with ``train_measured`` (2 % held
out, measured on the driver), and prints both times, the measuring time and the metrics.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from recommender.datasets.movielens import load_movielens  # noqa: E402
from recommender.model.training import train  # noqa: E402
from recommender.offline.heldout import Holdout, train_measured  # noqa: E402
from recommender.offline.splits import DEFAULT_DATASET  # noqa: E402
from recommender.spark_job import spark_job  # noqa: E402
from recommender.storage import params_file  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=DEFAULT_DATASET)
    parser.add_argument("--share", type=float, default=Holdout().share)
    args = parser.parse_args()
    params = params_file.tuned_params()
    with spark_job("heldout-cost") as spark:
        dataset = load_movielens(spark, args.dataset)
        dataset.ratings.cache().count()  # both trainings read the same cached ratings
        train(dataset, params)  # warm-up: JIT and Spark's first jobs
        started = time.perf_counter()
        plain = train(dataset, params)
        plain_seconds = time.perf_counter() - started
        if plain.biases is not None:
            plain.biases.unpersist()
        started = time.perf_counter()
        measured = train_measured(dataset, params, Holdout(share=args.share))
        measured_seconds = time.perf_counter() - started
    print(json.dumps({
        "plain_training_seconds": round(plain_seconds, 1),
        "training_with_heldout_seconds": round(measured_seconds, 1),
        "extra_seconds": round(measured_seconds - plain_seconds, 1),
        "record": measured.record,
    }, indent=2))


if __name__ == "__main__":
    main()
