"""The floor of ``etl.py netflix``: Spark reading the same text and writing it as Parquet, no parsing.

    spark-submit bench/text_to_parquet.py INPUT OUTPUT

The same session as etl.py (recommender/spark_job.py); one string column per line, written as is.
bench/etl_scale.py --floor runs it beside the ETL.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from recommender.spark_job import configure_logging, spark_job  # noqa: E402


def main(source, output):
    configure_logging()
    with spark_job("text-to-parquet") as spark:
        spark.read.text(source).write.mode("overwrite").parquet(output)


if __name__ == "__main__":
    main(*sys.argv[1:3])
