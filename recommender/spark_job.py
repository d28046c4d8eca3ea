"""The one way every entry point runs Spark: a configured session, a checkpoint directory, a clean stop.

Spark's and py4j's own INFO chatter stays out of the terminal unless ``verbose``.
"""

import contextlib
import logging
import sys
import tempfile

from pyspark import SparkContext
from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def describe(error):
    """One line saying what went wrong; for a JVM error, the Java exception's own message."""
    java_exception = getattr(error, "java_exception", None)  # py4j's Py4JJavaError
    text = str(java_exception.toString()) if java_exception is not None else f"{type(error).__name__}: {error}"
    return text.strip().splitlines()[0][:500] if text.strip() else type(error).__name__


def configure_logging(verbose=False, level=logging.INFO):
    """The commands' logging: our modules at ``level`` on stderr, py4j's only with ``verbose``."""
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr)
    logging.getLogger("py4j").setLevel(logging.DEBUG if verbose else logging.WARNING)


def quiet_jvm_logs(verbose):
    """Raise the JVM's root log level before the SparkContext starts, so its start-up says nothing.

    Under ``spark-submit`` the JVM is already running; its log4j is reached through the gateway.
    """
    if verbose:
        return
    SparkContext._ensure_initialized()
    jvm = SparkContext._jvm
    jvm.org.apache.logging.log4j.core.config.Configurator.setRootLevel(jvm.org.apache.logging.log4j.Level.WARN)


def build_spark(checkpoint_dir, app_name="movie-recommender", verbose=False):
    """The Spark session, with few shuffle partitions unless configured, and a checkpoint directory.

    The master comes from spark-submit (``--master``); without it Spark runs ``local[*]``.
    """
    quiet_jvm_logs(verbose)
    spark = SparkSession.builder.appName(app_name).config("spark.ui.showConsoleProgress", "false").getOrCreate()
    spark.sparkContext.setLogLevel("INFO" if verbose else "WARN")
    if not spark.sparkContext.getConf().contains("spark.sql.shuffle.partitions"):
        # Spark's default of 200 tasks per shuffle is mostly scheduling on a few cores; a
        # cluster sets its own (see docs/cluster.md).
        spark.conf.set("spark.sql.shuffle.partitions", str(2 * spark.sparkContext.defaultParallelism))
    # Without checkpoints, ALS lineage grows with every iteration until the JVM's stack
    # overflows (seen here at 20 iterations).
    spark.sparkContext.setCheckpointDir(checkpoint_dir)
    return spark


def stop_spark(spark):
    log.info("stopping Spark")
    try:
        spark.stop()
    except Exception as error:  # the JVM may already be gone, which is what stopping wants
        log.warning("Spark did not stop cleanly: %s", error)


@contextlib.contextmanager
def spark_job(app_name, checkpoint_dir=None, verbose=False):
    """A Spark session for the ``with`` block, stopped after it; checkpoints in a temporary directory
    unless ``checkpoint_dir`` (a shared path such as ``hdfs://...`` on a multi-machine cluster)."""
    with tempfile.TemporaryDirectory(prefix="als-checkpoints-") as scratch:
        spark = build_spark(checkpoint_dir or scratch, app_name, verbose)
        try:
            yield spark
        finally:
            stop_spark(spark)
