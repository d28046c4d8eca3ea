"""Batch top-N export: every user of a dataset's model, rows/s and peak memory.

    python bench/batch_export.py                         # the bundled data
    python bench/batch_export.py --synthetic 1000000     # also a 1M-rating synthetic dataset
    python bench/batch_export.py --synthetic 1000000 --synthetic 5000000 --count 10

Per dataset: train (not timed here; see bench/training_scale.py), save and load the model
as recommend_all.py does, then time ``recommender.offline.batch.export`` of every user's
top-N as CSV with filters off and on. Peak memory is the RSS of this process tree (the
Python driver, its JVM and the Python workers), sampled every 0.2 s.
"""

import argparse
import logging
import os
import sys
import tempfile
import threading

import psutil

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import synthetic  # noqa: E402
from engine import RecommendationEngine  # noqa: E402
from recommender.datasets.movielens import load_movielens  # noqa: E402
from recommender.model.filters import Filters  # noqa: E402
from recommender.offline.batch import export, load_model  # noqa: E402
from recommender.spark_job import configure_logging, spark_job  # noqa: E402
from recommender.storage.model_store import ModelStore  # noqa: E402

BUNDLED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "ml-latest-small")
FILTERS = {"none": Filters(), "filtered": Filters(exclude_popular=100, new=2)}


class PeakMemory:
    """The peak RSS of this process and all its descendants, sampled in a thread."""

    def __init__(self):
        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        me = psutil.Process()
        while not self._stop.wait(0.2):
            total = me.memory_info().rss
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
            self.peak = max(self.peak, total)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def measure(spark, name, dataset_dir, scratch, count):
    engine = RecommendationEngine(rank=10, iterations=10, seed=1)
    store = ModelStore(os.path.join(scratch, name, "models"))
    store.save(engine.train(load_movielens(spark, dataset_dir)))
    model = load_model(store.directory)
    rows = []
    for label, filters in FILTERS.items():
        with PeakMemory() as memory:
            summary = export(spark, model, os.path.join(scratch, name, label), count, 25, filters.check(model))
        rows.append((name, label, summary["users"], summary["rows"], summary["seconds"],
                     summary["rows"] / summary["seconds"], memory.peak / 2**20))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthetic", type=int, action="append", default=[], help="ratings of a synthetic dataset")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--no-bundled", action="store_true", help="only the synthetic datasets")
    args = parser.parse_args(argv)
    configure_logging(level=logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory() as scratch, spark_job("bench-batch-export") as spark:
        datasets = [] if args.no_bundled else [("bundled", BUNDLED)]
        for ratings in args.synthetic:
            datasets.append((f"synthetic-{ratings}", synthetic.ensure(os.path.join(scratch, f"s{ratings}"), ratings)))
        for name, directory in datasets:
            rows += measure(spark, name, directory, scratch, args.count)
    print(f"{'dataset':<20} {'filters':<9} {'users':>8} {'rows':>9} {'seconds':>8} {'rows/s':>9} {'peak MB':>8}")
    for name, label, users, count, seconds, rate, peak in rows:
        print(f"{name:<20} {label:<9} {users:>8} {count:>9} {seconds:>8.1f} {rate:>9.0f} {peak:>8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
