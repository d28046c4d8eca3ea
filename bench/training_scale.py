"""Training scale: load, train, memory and start-up time against the number of ratings.

    python bench/training_scale.py                    # 100k, 1M, 5M and 20M ratings (hours)
    python bench/training_scale.py --sizes 100k 1M 5M
    python bench/training_scale.py --short            # one tiny size, seconds; results to a temp dir

For each size a synthetic MovieLens-shaped dataset is generated (bench/synthetic.py,
cached under --data-dir) and two paths run, each in its own ``spark-submit --master
local[2]`` so that memory and JVM start are measured alone:

- ``service``: this service's start-up path: ``dataset.load_movielens`` (Spark's CSV
  reader) and ``RecommendationEngine.fit`` (statistics, Spark ML ALS on DataFrames,
  factors and ratings copied to the driver), then ``create_app`` answering ``/health``.
- ``tutorial`` (the baseline this service replaces): ``sc.textFile`` parsed by Python
  lambdas into a cached RDD and ``pyspark.mllib.recommendation.ALS.train``, same rank,
  iterations, regularization and seed.

Times: ``load`` is reading and parsing into a cached dataset (materialized by a count),
``train`` the training after it, ``startup`` from launching spark-submit to ready (for the
service: its app answering /health; for the tutorial: the model trained). Memory is peak
RSS sampled every 0.2 s: ``driver_py`` is the Python driver process, ``jvm`` the
spark-submit JVM (in local mode the executors run inside it), ``total`` the sum over the
whole process tree including PySpark's Python workers (which the tutorial's lambdas need).
"""

import argparse
import csv
import json
import logging
import math
import os
import re
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)
sys.path.insert(0, os.path.join(REPO_ROOT, "bench"))

log = logging.getLogger("training_scale")

PATHS = ("service", "tutorial", "parquet", "server")
FIELDS = [
    "ratings", "users", "movies", "path", "status", "load_s", "train_s", "load_train_s", "startup_s",
    "rating_als_s", "ranking_als_s", "retrain_s",
    "peak_driver_py_mb", "peak_jvm_mb", "peak_total_mb", "driver_memory",
]
# The stage lines of recommender.model.training the server path reads its models' times from.
STAGE_TIMES = {
    "rating_als_s": re.compile(r"training the rating ALS .* done \((\d+\.\d)s\)"),
    "ranking_als_s": re.compile(r"training the ranking ALS .* done \((\d+\.\d)s\)"),
}
RESULTS_DIR = os.path.join(REPO_ROOT, "bench", "results")


def parse_size(text):
    """``"100k"``, ``"5M"`` or ``"20000"`` as an int."""
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1].lower(), 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def size_label(ratings):
    if ratings >= 1_000_000 and ratings % 1_000_000 == 0:
        return f"{ratings // 1_000_000}M"
    if ratings >= 1_000 and ratings % 1_000 == 0:
        return f"{ratings // 1_000}k"
    return str(ratings)


def driver_memory_for(ratings):
    """JVM heap for ``ratings``: 1 GB per 1.6M ratings, at least 2 GB and at most 12 GB (20M)."""
    return f"{max(2, min(12, math.ceil(ratings / 1_600_000)))}g"


# -- the two paths, run inside spark-submit -------------------------------------------------


def run_service_path(spark, dataset_dir, params, launched):
    """This service's start-up: Spark CSV reader, ``RecommendationEngine.fit``, the Flask app."""
    from recommender.datasets.movielens import load_movielens

    return start_service(lambda: load_movielens(spark, dataset_dir), params, launched)


def run_parquet_path(spark, dataset_dir, params, launched):
    """The service's start-up from an etl.py Parquet dataset: ``layouts.load_dataset`` instead of the CSV reader."""
    from recommender.datasets.layouts import load_dataset

    return start_service(lambda: load_dataset(spark, dataset_dir), params, launched)


def start_service(load, params, launched):
    """Load with ``load()``, fit the engine and have the app answer /health: the three timings."""
    from app import create_app
    from engine import RecommendationEngine

    started = time.perf_counter()
    dataset = load()
    dataset.ratings.cache().count()
    loaded = time.perf_counter()
    engine = RecommendationEngine(**params).fit(dataset)
    trained = time.perf_counter()
    response = create_app(engine).test_client().get("/health")
    if response.status_code != 200:
        raise RuntimeError(f"/health answered {response.status_code}")
    return {"load_s": loaded - started, "train_s": trained - loaded, "startup_s": time.time() - launched}


def run_tutorial_path(spark, dataset_dir, params, launched):
    """BASELINE, the tutorial's design: text file, Python lambdas, RDD-based mllib ALS."""
    from pyspark.mllib.recommendation import ALS

    started = time.perf_counter()
    lines = spark.sparkContext.textFile(os.path.join(dataset_dir, "ratings.csv"))
    header = lines.take(1)[0]
    ratings = (
        lines.filter(lambda line: line != header)
        .map(lambda line: line.split(","))
        .map(lambda tokens: (int(tokens[0]), int(tokens[1]), float(tokens[2])))
        .cache()
    )
    ratings.count()
    loaded = time.perf_counter()
    ALS.train(ratings, rank=params["rank"], iterations=params["iterations"],
              lambda_=params["reg_param"], seed=params["seed"])
    trained = time.perf_counter()
    return {"load_s": loaded - started, "train_s": trained - loaded, "startup_s": time.time() - launched}


def worker(args):
    """Entry point inside spark-submit: run the paths in turn and write their timings as JSON."""
    from recommender.spark_job import spark_job

    params = {"rank": args.rank, "iterations": args.iterations, "reg_param": args.reg_param, "seed": args.seed}
    runs = {"service": run_service_path, "tutorial": run_tutorial_path, "parquet": run_parquet_path}
    results = {}
    with spark_job("training-scale") as spark:
        for path in args.worker:
            launched = float(os.environ["BENCH_LAUNCHED"]) if not results else time.time()
            dataset = args.parquet_dataset if path == "parquet" else args.dataset
            results[path] = runs[path](spark, os.path.abspath(dataset), params, launched)
    with open(args.result, "w", encoding="utf-8") as out:
        json.dump(results, out)
    return 0


# -- the parent: launches workers, samples their memory -------------------------------------


class TreeMemory:
    """Peak RSS of a process tree: the spark-submit JVM, the Python driver, Python workers."""

    def __init__(self, root_pid, driver_script="training_scale.py"):
        import psutil

        self.root = psutil.Process(root_pid)
        self.driver_script = driver_script
        self.peak = {"jvm": 0, "driver_py": 0, "total": 0}

    def sample(self):
        import psutil

        try:
            jvm = self.root.memory_info().rss
            children = self.root.children(recursive=True)
        except psutil.NoSuchProcess:
            return
        driver, others = 0, 0
        for child in children:
            try:
                rss = child.memory_info().rss
                is_driver = self.driver_script in " ".join(child.cmdline())
            except psutil.NoSuchProcess:
                continue
            if is_driver:
                driver = rss
            else:
                others += rss
        for key, value in (("jvm", jvm), ("driver_py", driver), ("total", jvm + driver + others)):
            self.peak[key] = max(self.peak[key], value)


def run_worker(paths, dataset_dir, args, driver_memory, log_path):
    """Run ``paths`` in one spark-submit; per path its timings and the peak memory, or a failed status."""
    venv_bin = os.path.dirname(sys.executable)
    result_path = log_path + ".json"
    command = [
        os.path.join(venv_bin, "spark-submit"), "--master", "local[2]", "--driver-memory", driver_memory,
        os.path.abspath(__file__), "--worker", *paths, "--dataset", dataset_dir, "--result", result_path,
        "--rank", str(args.rank), "--iterations", str(args.iterations),
        "--reg-param", str(args.reg_param), "--seed", str(args.seed),
        *(["--parquet-dataset", args.parquet_dataset] if args.parquet_dataset else []),
    ]
    env = dict(os.environ, PATH=venv_bin + os.pathsep + os.environ["PATH"], PYSPARK_PYTHON=sys.executable,
               BENCH_LAUNCHED=repr(time.time()))
    with open(log_path, "wb") as worker_log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=worker_log, stderr=subprocess.STDOUT)
    memory = TreeMemory(process.pid)
    deadline = time.monotonic() + args.timeout
    while process.poll() is None and time.monotonic() < deadline:
        memory.sample()
        time.sleep(0.2)
    status = "ok"
    if process.poll() is None:
        process.kill()
        status = f"timeout {args.timeout}s"
    process.wait()
    if status == "ok" and (process.returncode != 0 or not os.path.exists(result_path)):
        status = f"failed ({process.returncode}), see {log_path}"
    timings = {}
    if status == "ok":
        with open(result_path, encoding="utf-8") as result:
            timings = json.load(result)
    else:
        log.error("%s: %s", " and ".join(paths), status)
    peaks = {f"peak_{key}_mb": value / 2**20 for key, value in memory.peak.items()}
    return {path: {"status": status, **timings.get(path, {}), **peaks} for path in paths}


def run_server_path(dataset_dir, args, driver_memory, log_path):
    """The service as a user starts it: ``spark-submit server.py --dataset DIR`` to ``/ready``
    (both models, held-out metrics, save), then (unless ``--skip-retrain``) one retrain asked for by
    ``/admin/retrain``."""
    import requests

    from tests.support.service_process import ServiceFailed, ServiceProcess

    work = tempfile.mkdtemp(prefix="training-scale-server-")
    key = "training-scale"
    with open(os.path.join(work, "keys"), "w", encoding="utf-8") as keys:
        keys.write(key + "\n")
    launched = time.monotonic()
    service = ServiceProcess(
        log_path, "--dataset", os.path.abspath(dataset_dir), "--state-dir", os.path.join(work, "state"),
        "--api-keys-file", os.path.join(work, "keys"), "--retrain-after-ratings", str(10**9),
        "--retrain-after-seconds", str(10**9), "--gate", "off", env={"SPARK_DRIVER_MEMORY": driver_memory},
    )
    memory = TreeMemory(service.process.pid, driver_script="server.py")
    result = {"status": "ok"}
    try:
        wait_sampling(memory, lambda: ready(service), launched + args.timeout)
        result["startup_s"] = time.monotonic() - launched
        startup_peaks = {f"peak_{k}_mb": v / 2**20 for k, v in memory.peak.items()}
        if not getattr(args, "skip_retrain", False):  # etl_scale.py's arguments have no such option
            result["retrain_s"] = retrain_seconds(service, key, memory, args.timeout)
    except (ServiceFailed, TimeoutError, OSError) as error:
        result["status"] = f"failed: {str(error)[:200]}, see {log_path}"
        startup_peaks = {}
    finally:
        service.stop()
    result.update(stage_times(service.log(tail=0)))
    result.update(startup_peaks)  # the peak of the start-up alone: the retrain's comes on top of a serving model
    return result


def retrain_seconds(service, key, memory, timeout):
    """One retrain asked for by ``/admin/retrain``, timed to its swap."""
    import requests

    headers = {"Authorization": f"Bearer {key}"}
    requests.post(service.url + "/admin/retrain", headers=headers, timeout=60).raise_for_status()
    asked = time.monotonic()
    wait_sampling(memory, lambda: training(service)["retrains"] == 1, asked + timeout)
    return time.monotonic() - asked


def wait_sampling(memory, done, deadline):
    while time.monotonic() < deadline:
        memory.sample()
        if done():
            return
        time.sleep(0.2)
    raise TimeoutError("timed out")


def ready(service):
    import requests

    if service.process.poll() is not None:
        raise OSError(f"the service exited with {service.process.returncode}")
    try:
        return requests.get(service.url + "/ready", timeout=5).status_code == 200
    except (requests.ConnectionError, requests.Timeout):
        return False


def training(service):
    import requests

    return requests.get(service.url + "/health", timeout=30).json()["training"]


def stage_times(log_text):
    """The start-up's (first) rating and ranking ALS fit times from the service's log."""
    times = {}
    for key, pattern in STAGE_TIMES.items():
        found = pattern.search(log_text)
        if found:
            times[key] = float(found.group(1))
    return times


def measure_size(ratings, args, logs_dir):
    """Both paths on a synthetic dataset of ``ratings`` ratings; one row per path."""
    import synthetic

    dataset_dir = os.path.join(args.data_dir, size_label(ratings))
    synthetic.ensure(dataset_dir, ratings)
    users, movies = synthetic.dimensions(ratings)
    driver_memory = args.driver_memory or driver_memory_for(ratings)
    results = {}
    in_workers = [path for path in args.paths if path != "server"]
    for paths in [in_workers] if args.one_jvm else [[path] for path in in_workers]:
        log.info("%s ratings: %s (driver memory %s)", size_label(ratings), " and ".join(paths), driver_memory)
        log_path = os.path.join(logs_dir, f"{size_label(ratings)}-{'-'.join(paths)}.log")
        results.update(run_worker(paths, dataset_dir, args, driver_memory, log_path))
    if "server" in args.paths:
        log.info("%s ratings: server.py on %s (driver memory %s)", size_label(ratings), args.parquet_dataset,
                 driver_memory)
        log_path = os.path.join(logs_dir, f"{size_label(ratings)}-server.log")
        results["server"] = run_server_path(args.parquet_dataset, args, driver_memory, log_path)
    rows = []
    for path, result in results.items():
        row = {"ratings": ratings, "users": users, "movies": movies, "path": path, "driver_memory": driver_memory}
        row.update(result)
        if row["status"] == "ok" and "load_s" in row:
            row["load_train_s"] = row["load_s"] + row["train_s"]
        rows.append(row)
        log.info("%s", {key: round(v, 1) if isinstance(v, float) else v for key, v in row.items()})
    return rows


# -- results ----------------------------------------------------------------------------------


def write_csv(rows, path):
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()})


def format_table(rows):
    """The result rows as an aligned text table, with the tutorial/service ratios per size."""
    head = (f"{'ratings':>9} {'path':<9} {'load s':>8} {'train s':>8} {'load+train':>10} {'start-up s':>10} "
            f"{'rating ALS':>10} {'ranking ALS':>11} {'retrain s':>9} "
            f"{'driver py MB':>12} {'JVM MB':>8} {'total MB':>9}  status")
    lines = [head]
    for row in rows:
        def value(key, spec=">8.1f"):
            return format(row[key], spec) if key in row else format("-", spec.split(".")[0])
        lines.append(
            f"{size_label(row['ratings']):>9} {row['path']:<9} {value('load_s')} {value('train_s')} "
            f"{value('load_train_s', '>10.1f')} {value('startup_s', '>10.1f')} {value('rating_als_s', '>10.1f')} "
            f"{value('ranking_als_s', '>11.1f')} {value('retrain_s', '>9.1f')} {value('peak_driver_py_mb', '>12.0f')} "
            f"{value('peak_jvm_mb', '>8.0f')} {value('peak_total_mb', '>9.0f')}  {row['status']}"
        )
    lines.append("")
    lines.append(f"{'ratings':>9} {'tutorial/service load+train':>28} {'service train growth exponent':>30}")
    service = {r["ratings"]: r for r in rows if r["path"] == "service" and r["status"] == "ok"}
    tutorial = {r["ratings"]: r for r in rows if r["path"] == "tutorial" and r["status"] == "ok"}
    previous = None
    for ratings in sorted(service):
        ratio = tutorial[ratings]["load_train_s"] / service[ratings]["load_train_s"] if ratings in tutorial else None
        growth = None
        if previous is not None:
            growth = math.log(service[ratings]["train_s"] / service[previous]["train_s"]) / math.log(ratings / previous)
        lines.append(f"{size_label(ratings):>9} {format(ratio, '.2f') if ratio else '-':>28} "
                     f"{format(growth, '.2f') if growth is not None else '-':>30}")
        previous = ratings
    server = {r["ratings"]: r for r in rows if r["path"] == "server" and "startup_s" in r}
    for ratings in sorted(set(server) & set(tutorial)):
        lines.append(
            f"{size_label(ratings):>9} server.py start-up: tutorial start-up / server start-up "
            f"{tutorial[ratings]['startup_s'] / server[ratings]['startup_s']:.2f} (speed ratio), "
            f"peak total memory server / tutorial {server[ratings]['peak_total_mb'] / tutorial[ratings]['peak_total_mb']:.2f}"
        )
    return "\n".join(lines)


def plot(rows, path):
    """Log-log plot of load+train and train time against ratings, per path, with a linear guide."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    styles = {"service": ("tab:blue", "this service (CSV reader + ML ALS)"),
              "tutorial": ("tab:red", "tutorial baseline (textFile + lambdas + mllib ALS)")}
    for name, (color, label) in styles.items():
        done = sorted((r for r in rows if r["path"] == name and r["status"] == "ok"), key=lambda r: r["ratings"])
        if not done:
            continue
        x = [r["ratings"] for r in done]
        ax.plot(x, [r["load_train_s"] for r in done], "o-", color=color, label=f"{label}: load + train")
        ax.plot(x, [r["train_s"] for r in done], "s--", color=color, alpha=0.7, label=f"{label}: train")
    service = sorted((r for r in rows if r["path"] == "service" and r["status"] == "ok"), key=lambda r: r["ratings"])
    if len(service) > 1:
        first, last = service[0], service[-1]
        ax.plot([first["ratings"], last["ratings"]],
                [first["train_s"], first["train_s"] * last["ratings"] / first["ratings"]],
                ":", color="gray", label="linear growth from the smallest size")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("ratings")
    ax.set_ylabel("seconds")
    ax.set_title("Training time against data size (local[2], 2 cores)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["100k", "1M", "5M", "20M"], help="ratings per dataset")
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=PATHS)
    parser.add_argument("--short", action="store_true",
                        help="10k ratings, 3 iterations, one spark-submit, results to a temp dir")
    parser.add_argument("--rank", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--reg-param", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--driver-memory", help="spark-submit --driver-memory (default: by size, up to 12g)")
    parser.add_argument("--timeout", type=int, default=7200, help="seconds one path may take at one size")
    parser.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "recommender-bench-data"))
    parser.add_argument("--out", help="directory of the CSV and PNG (default bench/results, --short: a temp dir)")
    parser.add_argument("--one-jvm", action="store_true",
                        help="run both paths in one spark-submit (saves a JVM start; memory is then shared)")
    parser.add_argument("--parquet-dataset", help="the etl.py Parquet dataset the parquet and server paths load")
    parser.add_argument("--skip-retrain", action="store_true",
                        help="the server path measures the start-up only, not a retrain after it")
    parser.add_argument("--worker", nargs="+", choices=PATHS, help=argparse.SUPPRESS)
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.worker:
        return worker(args)
    if {"parquet", "server"} & set(args.paths) and not args.parquet_dataset:
        log.info("no --parquet-dataset: the parquet and server paths are left out")
        args.paths = [path for path in args.paths if path not in ("parquet", "server")]
    if args.short:
        args.sizes, args.iterations, args.one_jvm = ["10k"], 3, True
        args.data_dir = tempfile.mkdtemp(prefix="training-scale-data-")
    out = args.out or (tempfile.mkdtemp(prefix="training-scale-") if args.short else RESULTS_DIR)
    os.makedirs(out, exist_ok=True)
    logs_dir = tempfile.mkdtemp(prefix="training-scale-logs-")
    rows = []
    for size in args.sizes:
        rows += measure_size(parse_size(size), args, logs_dir)
        write_csv(rows, os.path.join(out, "training_scale.csv"))  # kept up to date through a long run
        plot(rows, os.path.join(out, "training_scale.png"))
    print(f"rank {args.rank}, {args.iterations} iterations, local[2]; worker logs in {logs_dir}")
    print(format_table(rows))
    print(f"results: {out}/training_scale.csv, training_scale.png")
    return 0 if all(row["status"] == "ok" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
