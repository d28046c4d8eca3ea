"""The project's Spark session: one configuration for the service, its commands and benchmarks."""

from pyspark.sql import SparkSession


def build_spark(checkpoint_dir, app_name="movie-recommender"):
    """The Spark session, with few shuffle partitions unless configured, and a checkpoint directory.

    The master comes from spark-submit (``--master``); without it Spark runs ``local[*]``.
    """
    spark = SparkSession.builder.appName(app_name).config("spark.ui.showConsoleProgress", "false").getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    if not spark.sparkContext.getConf().contains("spark.sql.shuffle.partitions"):
        # Spark's default of 200 tasks per shuffle is mostly scheduling on a few cores; a
        # cluster sets its own (see the README's cluster settings).
        spark.conf.set("spark.sql.shuffle.partitions", str(2 * spark.sparkContext.defaultParallelism))
    # Without checkpoints, ALS lineage grows with every iteration until the JVM's stack
    # overflows (seen here at 20 iterations).
    spark.sparkContext.setCheckpointDir(checkpoint_dir)
    return spark
