"""ETL throughput, and load + train from its Parquet output against the tutorial's text path.

    python bench/etl_scale.py --ratings 5M
    python bench/etl_scale.py --ratings 100k --skip-training      # a quick look
    python bench/etl_scale.py --ratings 5M --skip-training --floor --data-dir /tmp/recommender-bench-data

1. A synthetic Netflix-format file of --ratings ratings (bench/synthetic.py, cached under
   --data-dir) goes through ``spark-submit --master local[2] etl.py netflix`` into a fresh
   Parquet dataset: seconds, rows/s and peak RSS of the process tree. With --floor, then the
   same text read by Spark and written as Parquet with no parsing (bench/text_to_parquet.py).
2. bench/training_scale.py's ``server`` path (the service's start-up as a user runs it:
   ``spark-submit server.py --dataset`` that Parquet dataset to ``/ready``, both models and the
   held-out metrics, then one retrain; each model's fit time from the log) and its
   ``tutorial`` path (``sc.textFile`` + lambdas + mllib ALS on the MovieLens-format CSV of
   the same generator and seed: the same user-movie pairs), each in its own spark-submit.
"""

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

import synthetic  # noqa: E402
import training_scale  # noqa: E402

log = logging.getLogger("etl_scale")


def run_submitted(script_args, output, driver_memory, timeout):
    """``spark-submit --master local[2] SCRIPT ARGS...`` writing a fresh ``output``: seconds and peak memory."""
    shutil.rmtree(output, ignore_errors=True)
    venv_bin = os.path.dirname(sys.executable)
    command = [os.path.join(venv_bin, "spark-submit"), "--master", "local[2]", "--driver-memory", driver_memory,
               *script_args]
    env = dict(os.environ, PATH=venv_bin + os.pathsep + os.environ["PATH"], PYSPARK_PYTHON=sys.executable)
    log_path = output + ".log"
    started = time.perf_counter()
    with open(log_path, "wb") as run_log:
        process = subprocess.Popen(command, env=env, stdout=run_log, stderr=subprocess.STDOUT)
    memory = training_scale.TreeMemory(process.pid, driver_script=os.path.basename(script_args[0]))
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        memory.sample()
        time.sleep(0.2)
    if process.poll() is None:
        process.kill()
    seconds = time.perf_counter() - started
    if process.wait() != 0:
        raise SystemExit(f"{os.path.basename(script_args[0])} failed ({process.returncode}), see {log_path}")
    return seconds, {key: value / 2**20 for key, value in memory.peak.items()}


def run_etl(source, output, driver_memory, timeout):
    """``etl.py netflix`` on ``source`` into a fresh ``output``: seconds and peak memory."""
    return run_submitted([
        os.path.join(training_scale.REPO_ROOT, "etl.py"), "netflix", "--input", os.path.join(source, "ratings.txt"),
        "--titles", os.path.join(source, "movie_titles.csv"), "--output", output,
    ], output, driver_memory, timeout)


def run_floor(source, output, driver_memory, timeout):
    """The same text read by Spark and written as Parquet with no parsing (bench/text_to_parquet.py)."""
    return run_submitted([os.path.join(BENCH, "text_to_parquet.py"), os.path.join(source, "ratings.txt"), output],
                         output, driver_memory, timeout)


def etl_line(what, label, driver_memory, ratings, seconds, peaks):
    return (f"{what}, {label} ratings, local[2], driver memory {driver_memory}: {seconds:.1f} s, "
            f"{ratings / seconds:,.0f} rows/s, peak RSS JVM {peaks['jvm']:.0f} MB, "
            f"Python driver {peaks['driver_py']:.0f} MB, total {peaks['total']:.0f} MB")


def measure_etl(args, ratings, label, source, output):
    """The ETL, and with ``--floor`` the text-to-Parquet floor after it, printed side by side."""
    driver_memory = training_scale.driver_memory_for(ratings)
    seconds, peaks = run_etl(source, output, driver_memory, args.timeout)
    print(etl_line("etl.py netflix", label, driver_memory, ratings, seconds, peaks), flush=True)
    if args.floor:
        floor_seconds, floor_peaks = run_floor(source, output + "-floor", driver_memory, args.timeout)
        print(etl_line("floor: text read and written as Parquet", label, driver_memory, ratings, floor_seconds,
                       floor_peaks))
        print(f"etl.py netflix / floor time: {seconds / floor_seconds:.2f}; "
              f"load average {' '.join(open('/proc/loadavg').read().split()[:3])}")


def training_args(args, parquet_dataset):
    return argparse.Namespace(
        paths=["server", "tutorial"], parquet_dataset=parquet_dataset, data_dir=args.data_dir,
        driver_memory=None, timeout=args.timeout, one_jvm=False,
        rank=args.rank, iterations=args.iterations, reg_param=args.reg_param, seed=args.seed,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ratings", default="5M", help="ratings of the synthetic Netflix-format file")
    parser.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "recommender-bench-data"))
    parser.add_argument("--skip-training", action="store_true", help="measure the ETL only")
    parser.add_argument("--floor", action="store_true",
                        help="also the floor: the same text read and written as Parquet with no parsing")
    parser.add_argument("--rank", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--reg-param", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--timeout", type=int, default=7200, help="seconds one run may take")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ratings = training_scale.parse_size(args.ratings)
    label = training_scale.size_label(ratings)
    source = synthetic.ensure(os.path.join(args.data_dir, f"netflix-{label}"), ratings, kind="netflix")
    output = os.path.join(args.data_dir, f"netflix-{label}-parquet")
    measure_etl(args, ratings, label, source, output)
    if args.skip_training:
        return 0
    logs_dir = tempfile.mkdtemp(prefix="etl-scale-logs-")
    rows = training_scale.measure_size(ratings, training_args(args, output), logs_dir)
    print(training_scale.format_table(rows))
    done = {row["path"]: row for row in rows if row["status"] == "ok"}
    return 0 if len(done) == 2 else 1


if __name__ == "__main__":
    sys.exit(main())
