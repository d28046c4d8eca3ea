"""Example Airflow DAGs for the recommender's batch side (example code only: nothing imports it).

Copy it into Airflow's ``dags/`` folder and set the paths below. It needs
``apache-airflow-providers-apache-spark`` and a Spark connection (``spark_default``: the
master, e.g. ``yarn`` or ``spark://host:7077``); the project directory must be readable by
the machine that runs ``spark-submit``.

Two DAGs:

- ``recommender_batch`` (daily): ETL the new raw data into the Parquet dataset, train and
  evaluate on it; evaluation fails the run when the model loses to its baselines.
- ``recommender_drift`` (hourly): check the serving model against the ratings the service
  logged since; when drift.py says retrain (exit code 3), merge the log into the dataset and
  ask the running service to retrain (it reads the merged dataset).
"""

from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.operators.python import ShortCircuitOperator
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

PROJECT = "/opt/recommender"  # the checkout: etl.py, evaluate.py, drift.py, ...
DATASET = "hdfs:///recommender/dataset"  # the Parquet layout etl.py writes (docs/pipeline.md)
RAW = "hdfs:///recommender/raw/{{ ds }}"  # the day's Netflix-format files
STATE = "/var/lib/recommender/state"  # server.py --state-dir: ratings-log.csv and models/
SERVICE = "http://recommender.internal:5432"
API_KEY_FILE = "/etc/recommender/api-key"  # one of server.py's --api-keys-file keys

SPARK = {
    "conn_id": "spark_default",
    "conf": {"spark.sql.shuffle.partitions": "64"},
    "executor_memory": "4g",
    "driver_memory": "4g",  # the driver holds the factors: see docs/pipeline.md for the sizing
}
DEFAULTS = {"owner": "recommender", "retries": 1, "retry_delay": timedelta(minutes=10)}


def spark_job(task_id, script, *arguments):
    return SparkSubmitOperator(task_id=task_id, application=f"{PROJECT}/{script}",
                               application_args=list(arguments), name=f"recommender-{task_id}", **SPARK)


with DAG("recommender_batch", schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False,
         default_args=DEFAULTS, tags=["recommender"]) as batch:
    etl = spark_job("etl", "etl.py", "netflix", "--input", f"{RAW}/combined_data_*.txt",
                    "--titles", f"{RAW}/movie_titles.csv", "--output", DATASET)
    # evaluate.py exits non-zero on bad input; --json keeps the report in the task log.
    train_and_evaluate = spark_job("train_evaluate", "evaluate.py", "--dataset", DATASET,
                                   "--test-fraction", "0.2", "--seed", "42", "--json")
    etl >> train_and_evaluate


def drift_says_retrain(**context):
    """drift.py's exit code: 3 means retrain, 0 means keep the model (docs/models.md)."""
    return context["ti"].xcom_pull(task_ids="drift") == "3"


with DAG("recommender_drift", schedule="@hourly", start_date=datetime(2026, 1, 1), catchup=False,
         default_args=DEFAULTS, tags=["recommender"]) as drift:
    # spark-submit's exit code is the script's; echo it for the short-circuit instead of failing on 3.
    check = BashOperator(
        task_id="drift", do_xcom_push=True,
        bash_command=(f"cd {PROJECT} && spark-submit drift.py --model {STATE}/models --current "
                      f"{STATE}/ratings-log.csv --json >&2; echo $?"),
    )
    should_retrain = ShortCircuitOperator(task_id="should_retrain", python_callable=drift_says_retrain)
    merge = spark_job("merge", "etl.py", "merge", "--input", f"{STATE}/ratings-log.csv", "--output", DATASET)
    retrain = BashOperator(
        task_id="retrain",
        bash_command=(f"curl --fail -X POST -H \"Authorization: Bearer $(cat {API_KEY_FILE})\" "
                      f"{SERVICE}/admin/retrain"),
    )
    check >> should_retrain >> merge >> retrain
