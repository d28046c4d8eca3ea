"""Serving load test: throughput and latency percentiles at several concurrency levels.

    python bench/load.py                    # starts spark-submit server.py on the bundled data
    python bench/load.py --url URL          # loads a service that is already running
    python bench/load.py --short            # seconds: few requests, levels 1 and 8
    python bench/load.py --dataset /tmp/recommender-bench-data/netflix-5M-parquet --state-from DIR --levels 32 --no-baseline

For each concurrency level (1, 8, 32, 64) and each route (GET /health as the ceiling of
the server and this load generator together, top-10 for random known users, the same
with filters (a genre when the dataset has genres, 10 excluded movies, no 100 most rated),
one-movie predictions, POSTs of 10 ratings of popular movies by fresh users),
``--requests`` requests are sent over
as many keep-alive connections as the level, each connection sending its next request
as soon as the previous answer is read (closed loop). The generator is one asyncio
process writing raw HTTP/1.1, so a request costs it tens of microseconds; its CPU use is
reported next to the throughput.

Then the tutorial's design (the BASELINE this service replaces) answers top-10s: a Spark
job per request that builds a DataFrame of (user, candidate movie) pairs, scores it with
the ALS model's ``transform`` and sorts it. It runs in this process's own local Spark
after the service is stopped, one request at a time.

``--dataset`` is any dataset the service reads (MovieLens CSV, or etl.py's Parquet such as
bench/etl_scale.py's 5M one); the users and movies asked for are read from it. Training a
big one takes minutes: ``--state-from DIR`` copies the saved models of a state directory
(a server.py ``--state-dir`` that trained on the same dataset) into the run's own fresh
state directory, so the service starts from the saved model and the run's POSTs are not kept.
Each level ends with the ratios of the targets (docs/performance.md, "Writes and reads"):
POST and top-10 throughput and p99 against /health's, filtered top-10 against unfiltered.

Results: ``load.csv`` (one row per route and level, plus the baseline) and ``load.png``
(response times over the run; percentiles per level) under bench/results/.
"""

import argparse
import asyncio
import collections
import csv
import json
import logging
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from latency import percentile  # noqa: E402
from tests.support.service_process import ServiceProcess  # noqa: E402

log = logging.getLogger("load")

ROUTES = ("health", "top-10", "top-10 filtered", "one movie", "POST 10 ratings")
POPULAR_MOVIES = 200  # the POSTs and one-movie reads pick among the dataset's most rated movies
LEVELS = (1, 8, 32, 64)
RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
BUNDLED_DATASET = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "ml-latest-small")
FIELDS = ["route", "concurrency", "requests", "errors", "reconnects", "seconds", "requests_per_s",
          "p50_ms", "p95_ms", "p99_ms", "max_ms", "client_cpu_pct"]


@dataclass
class LevelResult:
    """The samples of one route at one concurrency level."""

    route: str
    concurrency: int
    seconds: float
    client_cpu: float  # seconds of this process's CPU time
    starts: list = field(default_factory=list)  # seconds since the run began
    latencies: list = field(default_factory=list)  # seconds, successful requests only
    errors: collections.Counter = field(default_factory=collections.Counter)  # by status or exception
    reconnects: int = 0  # connections the server closed (Connection: close) and the client reopened

    def row(self):
        """The summary as a dict of ``FIELDS``."""
        ms = [s * 1000 for s in self.latencies] or [float("nan")]
        return {
            "route": self.route, "concurrency": self.concurrency, "requests": len(self.latencies),
            "errors": sum(self.errors.values()), "reconnects": self.reconnects, "seconds": self.seconds,
            "requests_per_s": len(self.latencies) / self.seconds,
            "p50_ms": percentile(ms, 0.50), "p95_ms": percentile(ms, 0.95), "p99_ms": percentile(ms, 0.99),
            "max_ms": max(ms), "client_cpu_pct": 100 * self.client_cpu / self.seconds,
        }


@dataclass(frozen=True)
class Sample:
    """What the requests ask for, read from the served dataset."""

    users: list  # user ids with ratings
    movies: list  # the most rated movie ids
    genre: str = None  # the commonest genre; None when the dataset has no genres
    scale: tuple = (0.5, 5.0)  # the lowest and highest rating: POSTs stay inside it, or they get 400

    def filters(self):
        """The filtered top-10's query: the genre, 10 excluded popular movies, no 100 most rated."""
        genre = f"genre={self.genre}&" if self.genre else ""
        return f"?{genre}exclude={','.join(map(str, self.movies[:10]))}&exclude_popular=100"


def dataset_sample(directory, popular=POPULAR_MOVIES):
    """The users, most rated movies and commonest genre of a MovieLens CSV or etl.py Parquet dataset."""
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.dataset as pads
    from pyarrow import csv as pacsv

    manifest = os.path.join(directory, "manifest.json")
    if os.path.exists(manifest):
        with open(manifest, encoding="utf-8") as file:
            version = os.path.join(directory, json.load(file)["version"])
        ratings = pads.dataset(os.path.join(version, "ratings"), partitioning="hive").to_table(["userId", "movieId", "rating"])
        movies = pads.dataset(os.path.join(version, "movies")).to_table(["genres"])
    else:
        ratings = pacsv.read_csv(os.path.join(directory, "ratings.csv"),
                                 convert_options=pacsv.ConvertOptions(include_columns=["userId", "movieId", "rating"]))
        movies = pacsv.read_csv(os.path.join(directory, "movies.csv"),
                                convert_options=pacsv.ConvertOptions(include_columns=["genres"]))
    movie_ids, counts = np.unique(ratings.column("movieId").to_numpy(), return_counts=True)
    genres = collections.Counter(
        genre for text in movies.column("genres").to_pylist() for genre in (text or "").split("|")
        if genre and genre != "(no genres listed)"
    )
    return Sample(
        users=np.unique(ratings.column("userId").to_numpy()).tolist(),
        movies=movie_ids[np.argsort(-counts, kind="stable")[:popular]].tolist(),
        genre=genres.most_common(1)[0][0] if genres else None,
        scale=(float(pc.min(ratings.column("rating")).as_py()), float(pc.max(ratings.column("rating")).as_py())),
    )


def build_requests(route, count, host, rng, first_new_user, sample):
    """``count`` raw HTTP/1.1 requests of ``route`` as bytes."""
    def get(path):
        return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()

    if route == "health":
        return [get("/health")] * count
    if route == "top-10":
        return [get(f"/{rng.choice(sample.users)}/ratings/top/10") for _ in range(count)]
    if route == "top-10 filtered":
        return [get(f"/{rng.choice(sample.users)}/ratings/top/10{sample.filters()}") for _ in range(count)]
    if route == "one movie":
        return [get(f"/{rng.choice(sample.users)}/ratings/{rng.choice(sample.movies)}") for _ in range(count)]
    requests = []
    low, high = (int(2 * bound) for bound in sample.scale)  # half stars inside the dataset's scale
    for user in range(first_new_user, first_new_user + count):
        body = "".join(f"{movie},{rng.randint(low, high) / 2}\n" for movie in rng.sample(sample.movies, 10)).encode()
        requests.append(
            f"POST /{user}/ratings HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode() + body
        )
    return requests


async def exchange(reader, writer, request):
    """Send one request on a keep-alive connection and read the whole answer.

    Returns its status and whether the server closes the connection after it
    (``Connection: close``: beyond ``--keep-alive-limit`` idle connections cheroot closes them).
    """
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length, close = 0, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            close = value.strip().lower() == b"close"
    await reader.readexactly(length)
    return int(head[9:12]), close


async def run_level(host, port, route, requests, concurrency, time_limit, run_started):
    """Send ``requests`` over ``concurrency`` connections (closed loop) within ``time_limit`` s."""
    connections = [await asyncio.open_connection(host, port) for _ in range(concurrency)]
    pending = iter(requests)
    cpu_started, started = time.process_time(), time.perf_counter()
    result = LevelResult(route, concurrency, 0.0, 0.0)

    async def client(reader, writer):
        for request in pending:
            if time.perf_counter() - started > time_limit:
                return
            sent = time.perf_counter()
            try:
                status, close = await exchange(reader, writer, request)
            except (ConnectionError, asyncio.IncompleteReadError) as error:
                status, close = type(error).__name__, True
            if close:  # counted in the request's time, as a client would pay it
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                result.reconnects += 1
            if status in range(200, 300):
                result.starts.append(sent - run_started)
                result.latencies.append(time.perf_counter() - sent)
            else:
                result.errors[status] += 1
        writer.close()

    await asyncio.gather(*(client(reader, writer) for reader, writer in connections))
    result.seconds = time.perf_counter() - started
    result.client_cpu = time.process_time() - cpu_started
    return result


def load_test(url, sample, levels=LEVELS, count=3000, time_limit=60.0, seed=1, routes=ROUTES):
    """Every route at every concurrency level against the service at ``url``.

    Parameters
    ----------
    url : str
        ``http://127.0.0.1:PORT`` of a running service.
    sample : Sample
        Users and movies of the dataset it serves.
    levels : sequence of int
        Concurrency levels: open connections, each sending as soon as it has an answer.
    count : int
        Requests per route and level.
    time_limit : float
        Seconds after which a route's level stops sending.
    seed : int
    routes : sequence of str
        Which of ``ROUTES`` to run, in ``ROUTES`` order (``--routes``: one route alone, to profile it).

    Returns
    -------
    list of LevelResult
        In the order run: levels ascending, routes in ``ROUTES`` order.
    """
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port
    rng = random.Random(seed)
    first_new_user = max(sample.users) + 100_000  # users with no ratings, a fresh one per POST

    async def run_all():
        warm = build_requests("top-10", 50, host, rng, 0, sample) + build_requests(
            "POST 10 ratings", 5, host, rng, first_new_user - 10, sample
        )
        await run_level(host, port, "warm-up", warm, 4, time_limit, time.perf_counter())
        run_started, results, new_user = time.perf_counter(), [], first_new_user
        for concurrency in levels:
            for route in (r for r in ROUTES if r in routes):
                requests = build_requests(route, count, host, rng, new_user, sample)
                new_user += count
                result = await run_level(host, port, route, requests, concurrency, time_limit, run_started)
                log.info("%s", {k: round(v, 2) if isinstance(v, float) else v for k, v in result.row().items()})
                if result.errors:
                    log.warning("%s at concurrency %d: errors %s", route, concurrency, dict(result.errors))
                results.append(result)
            log.info("%s", "; ".join(target_ratios(results, concurrency)))
        return results

    return asyncio.run(run_all())


def target_ratios(results, concurrency):
    """The targets' ratios at one level: POST and top-10 to /health, filtered top-10 to unfiltered."""
    rows = {r.route: r.row() for r in results if r.concurrency == concurrency}
    health = rows.get("health")
    lines = []
    for route in ("POST 10 ratings", "top-10", "top-10 filtered"):
        if health and route in rows:
            lines.append(
                f"c={concurrency} {route}: {rows[route]['requests_per_s'] / health['requests_per_s']:.2f}x /health's "
                f"req/s, p99 {rows[route]['p99_ms'] / health['p99_ms']:.2f}x /health's"
            )
    if "top-10" in rows and "top-10 filtered" in rows:
        lines.append(
            f"c={concurrency} filtered top-10: p50 {rows['top-10 filtered']['p50_ms'] / rows['top-10']['p50_ms']:.2f}x, "
            f"req/s {rows['top-10']['requests_per_s'] / rows['top-10 filtered']['requests_per_s']:.2f}x fewer "
            f"than unfiltered"
        )
    return lines


# -- BASELINE: the tutorial's design, a Spark job per top-10 --------------------------------


class TutorialTopTen:
    """BASELINE: top-10 computed per request by ALS ``transform`` over candidate pairs in Spark.

    As in the classic tutorial: the candidates are the movies with at least
    ``min_ratings`` ratings that the user has not rated; each request makes them a Spark
    DataFrame of (user, movie) pairs, scores it with the trained model's ``transform``,
    sorts it and collects the first ten. To be fair to the design, the candidate lists
    are kept on the driver and only the scoring and sorting run as a Spark job.
    """

    def __init__(self, spark, dataset_dir, rank=10, iterations=15, reg_param=0.15, seed=42, min_ratings=25):
        from pyspark.ml.recommendation import ALS
        from pyspark.sql import functions as F

        from recommender.datasets.movielens import load_movielens

        ratings = load_movielens(spark, dataset_dir).ratings.cache()
        self.spark = spark
        self.model = ALS(rank=rank, maxIter=iterations, regParam=reg_param, seed=seed, userCol="userId",
                         itemCol="movieId", ratingCol="rating", coldStartStrategy="drop").fit(ratings)
        counts = ratings.groupBy("movieId").agg(F.count("*").alias("n")).filter(F.col("n") >= min_ratings)
        self.popular = {row["movieId"] for row in counts.collect()}
        self.rated = {}
        for row in ratings.select("userId", "movieId").collect():
            self.rated.setdefault(row["userId"], set()).add(row["movieId"])
        ratings.unpersist()

    def top(self, user_id, count=10):
        """The ``count`` best (movie id, predicted rating) of ``user_id``: one Spark job."""
        from pyspark.sql import functions as F

        candidates = sorted(self.popular - self.rated.get(user_id, set()))
        pairs = self.spark.createDataFrame([(user_id, movie) for movie in candidates], "userId INT, movieId INT")
        best = self.model.transform(pairs).orderBy(F.desc("prediction")).limit(count).collect()
        return [(row["movieId"], row["prediction"]) for row in best]


def tutorial_baseline(spark, dataset_dir, users, count, iterations=15, seed=1):
    """Time ``count`` top-10s of the tutorial's design for random ``users``, one at a time; a LevelResult."""
    started = time.perf_counter()
    baseline = TutorialTopTen(spark, dataset_dir, iterations=iterations)
    baseline.top(1)  # warm: plans, code paths, cached ratings
    log.info("baseline model trained and warmed in %.1fs", time.perf_counter() - started)
    rng = random.Random(seed)
    result = LevelResult("tutorial top-10 (Spark job)", 1, 0.0, 0.0)
    cpu_started, run_started = time.process_time(), time.perf_counter()
    for _ in range(count):
        sent = time.perf_counter()
        if len(baseline.top(rng.choice(users))) != 10:
            raise RuntimeError("the baseline returned fewer than 10 movies")
        result.starts.append(sent - run_started)
        result.latencies.append(time.perf_counter() - sent)
    result.seconds = time.perf_counter() - run_started
    result.client_cpu = time.process_time() - cpu_started
    return result


def local_spark():
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]").appName("tutorial-baseline")
        .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")  # a per-request job should not run 200 tasks
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    spark.sparkContext.setCheckpointDir(tempfile.mkdtemp(prefix="baseline-checkpoints-"))
    return spark


# -- results --------------------------------------------------------------------------------


def format_table(results, baseline=None):
    """Aligned text table of the results, with the service/baseline throughput ratios."""
    lines = [f"{'route':<28} {'conc':>4} {'n':>6} {'err':>4} {'reconn':>6} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
             f"{'p99 ms':>8} {'max ms':>8} {'client CPU':>10}"]
    for result in results + ([baseline] if baseline else []):
        row = result.row()
        lines.append(
            f"{row['route']:<28} {row['concurrency']:>4} {row['requests']:>6} {row['errors']:>4} "
            f"{row['reconnects']:>6} "
            f"{row['requests_per_s']:>8.1f} {row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f} {row['p99_ms']:>8.2f} "
            f"{row['max_ms']:>8.2f} {row['client_cpu_pct']:>9.0f}%"
        )
    for level in sorted({r.concurrency for r in results}):
        lines.extend(target_ratios(results, level))
    if baseline:
        tutorial = baseline.row()["requests_per_s"]
        for result in results:
            if result.route == "top-10":
                ratio = result.row()["requests_per_s"] / tutorial
                lines.append(
                    f"top-10 at concurrency {result.concurrency}: {ratio:,.0f}x the tutorial design's throughput"
                )
    return "\n".join(lines)


def write_csv(results, baseline, path):
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, FIELDS)
        writer.writeheader()
        for result in results + ([baseline] if baseline else []):
            writer.writerow({k: round(v, 3) if isinstance(v, float) else v for k, v in result.row().items()})


def plot(results, baseline, path):
    """Response times over the run (top) and percentiles per concurrency level (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = dict(zip(ROUTES, ("tab:gray", "tab:blue", "tab:purple", "tab:green", "tab:orange")))
    fig, (over_run, levels) = plt.subplots(2, 1, figsize=(10, 9))
    for route in ROUTES:
        done = [r for r in results if r.route == route]
        starts = [s for r in done for s in r.starts]
        ms = [s * 1000 for r in done for s in r.latencies]
        over_run.scatter(starts, ms, s=2, alpha=0.35, color=colors[route], label=route, rasterized=True)
        rows = [r.row() for r in done]
        x = [row["concurrency"] for row in rows]
        for key, style in (("p50_ms", "o-"), ("p95_ms", "s--"), ("p99_ms", "^:")):
            levels.plot(x, [row[key] for row in rows], style, color=colors[route], label=f"{route} {key[:3]}")
    for level in sorted({r.concurrency for r in results}):
        first = min(s for r in results if r.concurrency == level for s in r.starts[:1] or [float("inf")])
        over_run.axvline(first, color="black", lw=0.5, alpha=0.4)
        over_run.text(first, 1.02, f"c={level}", transform=over_run.get_xaxis_transform(), fontsize=8)
    if baseline:
        tutorial_ms = baseline.row()["p50_ms"]
        levels.axhline(tutorial_ms, color="tab:red", lw=1.5, label="tutorial top-10 p50 (Spark job), c=1")
    over_run.set_yscale("log")
    over_run.set_xlabel("seconds since the load test began")
    over_run.set_ylabel("response time, ms")
    over_run.set_title("Response times over the run (each dot a request)", pad=18)
    over_run.legend(markerscale=5, fontsize=8, loc="upper left")
    levels.set_xscale("log", base=2)
    levels.set_yscale("log")
    levels.set_xticks(sorted({r.concurrency for r in results}))
    levels.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    levels.set_xlabel("concurrency (open connections)")
    levels.set_ylabel("response time, ms")
    levels.set_title("Latency percentiles per concurrency level")
    levels.grid(True, which="both", alpha=0.3)
    levels.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(url, args, spark=None, dataset_dir=None, stop_service=None):
    """Load test ``url``, then (unless ``--no-baseline``) the tutorial design; print and save."""
    sample = dataset_sample(dataset_dir)
    log.info("%d users, %d popular movies, genre %s", len(sample.users), len(sample.movies), sample.genre)
    results = load_test(url, sample, args.levels, args.requests, args.time_limit, routes=args.routes)
    if stop_service:
        stop_service()  # the baseline gets the machine's cores to itself
    baseline = None
    if not args.no_baseline:
        spark = spark or local_spark()
        baseline = tutorial_baseline(spark, dataset_dir, sample.users, args.baseline_requests, args.baseline_iterations)
    os.makedirs(args.out, exist_ok=True)
    write_csv(results, baseline, os.path.join(args.out, "load.csv"))
    plot(results, baseline, os.path.join(args.out, "load.png"))
    print(format_table(results, baseline))
    print(f"results: {args.out}/load.csv, load.png")
    return results, baseline


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running service on the bundled data; default: start one")
    parser.add_argument("--short", action="store_true", help="100 requests at levels 1 and 8, results to a temp dir")
    parser.add_argument("--levels", type=int, nargs="+", default=list(LEVELS))
    parser.add_argument("--requests", type=int, default=3000, help="requests per route and level")
    parser.add_argument("--routes", nargs="+", choices=ROUTES, default=list(ROUTES),
                        help="the routes to load (default: all); health is the ratios' reference")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per route and level at most")
    parser.add_argument("--threads", type=int, help="server.py --threads (default: the server's)")
    parser.add_argument("--startup-timeout", type=float, default=900.0, help="seconds the service may take to start")
    parser.add_argument("--baseline-requests", type=int, default=20, help="top-10s of the tutorial design")
    parser.add_argument("--baseline-iterations", type=int, default=15, help="ALS iterations of the baseline model")
    parser.add_argument("--no-baseline", action="store_true", help="skip the tutorial design")
    parser.add_argument("--dataset", default=BUNDLED_DATASET,
                        help="the service's dataset: MovieLens CSV or etl.py Parquet (the 5M one of bench/etl_scale.py)")
    parser.add_argument("--state-from", help="a state directory trained on --dataset: its saved models are copied "
                        "into the run's fresh state directory, so the service starts without training")
    parser.add_argument("--out", help="directory of load.csv and load.png (default bench/results)")
    args = parser.parse_args(argv)
    if args.short:
        args.levels, args.requests, args.baseline_requests, args.baseline_iterations = [1, 8], 100, 2, 2
    args.dataset = os.path.abspath(args.dataset)
    args.out = args.out or (tempfile.mkdtemp(prefix="load-") if args.short else RESULTS_DIR)
    return args


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.url:
        run(args.url, args, dataset_dir=args.dataset)
        return 0
    server_args = ["--dataset", args.dataset] + (["--threads", str(args.threads)] if args.threads else [])
    # The POSTs add up to 120,000 ratings: a background retrain would run Spark on the same
    # cores mid-run and this would measure training, not serving (training_scale.py does that).
    server_args += ["--retrain-after-ratings", str(10**9), "--retrain-after-seconds", str(10**9)]
    with tempfile.TemporaryDirectory() as scratch:
        state = os.path.join(scratch, "state")
        if args.state_from:
            shutil.copytree(os.path.join(args.state_from, "models"), os.path.join(state, "models"))
        server_args += ["--state-dir", state]
        service = ServiceProcess(os.path.join(scratch, "server.log"), *server_args, env={"SPARK_DRIVER_MEMORY": "4g"})
        try:
            started = time.perf_counter()
            service.wait_until_up(args.startup_timeout)
            print(f"service up in {time.perf_counter() - started:.1f}s (JVM start, load, training)", flush=True)
            run(service.url, args, dataset_dir=args.dataset, stop_service=service.stop)
        finally:
            service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
