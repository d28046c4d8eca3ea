"""The benchmark scripts in short mode, so they cannot rot (bench/load.py runs in test_server.py)."""

import csv
import os
import subprocess
import sys

import numpy as np

from recommender.datasets.movielens import load_movielens
from tests.support.service_process import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, "bench"))
import synthetic  # noqa: E402


def test_synthetic_data_is_movielens_shaped_and_reads_back_whole(spark, tmp_path):
    info = synthetic.generate(str(tmp_path), 5000, seed=3)
    dataset = load_movielens(spark, str(tmp_path))
    ratings = dataset.ratings.select("userId", "movieId", "rating").collect()
    assert len(ratings) == 5000  # distinct pairs, none dropped as malformed
    values = np.array([row["rating"] for row in ratings])
    assert set(values) <= set(synthetic.HALF_STARS) and values.min() < 2 and values.max() == 5.0
    movies = {row["movieId"]: row["title"] for row in dataset.movies.collect()}
    assert len(movies) == info["movies"]
    assert movies[5].startswith("Movie 5, The (") and movies[1].startswith('Say "Movie 1" (')
    popularity = np.sort(np.bincount([row["movieId"] for row in ratings]))[::-1]
    assert popularity[0] > 4 * np.median(popularity[popularity > 0])  # a long tail of movies


def test_training_scale_short_mode(tmp_path, repo_root):
    completed = subprocess.run(
        [sys.executable, os.path.join(repo_root, "bench", "training_scale.py"), "--short", "--out", str(tmp_path)],
        cwd=repo_root, capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    with open(tmp_path / "training_scale.csv", encoding="utf-8") as result:
        rows = list(csv.DictReader(result))
    assert [(row["path"], row["status"]) for row in rows] == [("service", "ok"), ("tutorial", "ok")]
    assert all(float(row["train_s"]) > 0 and float(row["peak_total_mb"]) > 100 for row in rows)
    assert (tmp_path / "training_scale.png").stat().st_size > 10_000
    assert "tutorial/service load+train" in completed.stdout


def test_stack_ceiling_short_mode(repo_root):
    completed = subprocess.run(
        [sys.executable, os.path.join(repo_root, "bench", "stack_ceiling.py"), "--short"],
        cwd=repo_root, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    rows = completed.stdout.splitlines()[2:]
    assert [row[:22].strip() for row in rows] == ["hello", "hello + access log", "service /health"]
    assert all(float(row.split()[-4]) > 0 for row in rows)  # requests per second


def test_fault_run_short_mode_loses_nothing(repo_root):
    completed = subprocess.run(
        [sys.executable, os.path.join(repo_root, "bench", "faults.py"), "--rounds", "1"],
        cwd=repo_root, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]),
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    summary = completed.stdout.strip().splitlines()[-1]
    assert "lost 0," in summary and "other than 2xx/503: 0" in summary
    assert "torn log, damaged model" in completed.stdout
