"""Where ``etl.py netflix``'s time goes: its stages forced one after another, wall and JVM CPU seconds.

    PATH=.venv/bin:$PATH spark-submit --master local[2] --driver-memory 4g bench/etl_profile.py DIR

DIR holds ``ratings.txt`` and ``movie_titles.csv`` (bench/synthetic.py --format netflix). Each
stage is forced with Spark's ``noop`` sink and includes the stages above it; the last runs the
whole job into a temporary dataset. JVM CPU seconds (the spark-submit JVM's user + system time)
are the numbers to read on a loaded machine.
"""

import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import psutil  # noqa: E402

from recommender.pipeline import netflix  # noqa: E402
from recommender.pipeline.jobs import netflix_job  # noqa: E402
from recommender.pipeline.parquet_dataset import Counted, upsert_ratings, with_month  # noqa: E402
from recommender.spark_job import configure_logging, spark_job  # noqa: E402

JVM = psutil.Process(os.getppid())  # spark-submit runs this driver as the JVM's child


def jvm_cpu():
    times = JVM.cpu_times()
    return times.user + times.system


def measured(name, run):
    started, cpu = time.perf_counter(), jvm_cpu()
    result = run()
    print(f"PROFILE {name}: {time.perf_counter() - started:.1f}s wall, {jvm_cpu() - cpu:.1f}s JVM CPU", flush=True)
    return result


def forced(name, frame):
    measured(name, lambda: frame.write.format("noop").mode("overwrite").save())


def main(directory):
    configure_logging()
    ratings, titles = os.path.join(directory, "ratings.txt"), os.path.join(directory, "movie_titles.csv")
    with spark_job("etl-profile") as spark:
        forced("read.text", spark.read.text(ratings))
        lines = measured("first pass (block starts)",
                         lambda: netflix.with_movie(spark, netflix.tagged_lines(spark, [ratings])))
        forced("second pass: lines with their movie", lines)
        forced("+ parse and malformed-row counts", netflix.read_ratings(spark, [ratings], Counted()))
        forced("+ upsert aggregation", upsert_ratings(None, netflix.read_ratings(spark, [ratings], Counted())))
        months = with_month(upsert_ratings(None, netflix.read_ratings(spark, [ratings], Counted())))
        forced("+ year/month repartition", months.repartition(4, "year", "month"))
        output = tempfile.mkdtemp(prefix="etl-profile-")
        try:
            measured("netflix_job (all, into Parquet)", lambda: netflix_job(spark, [ratings], titles, output))
        finally:
            shutil.rmtree(output)


if __name__ == "__main__":
    main(sys.argv[1])
