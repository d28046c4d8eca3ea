"""Small files and folders on any path Spark reads (local, hdfs://, s3a://), through Hadoop's FileSystem.

The JVM's Hadoop client is the one Spark itself uses, so its configuration and credentials
apply here too and the driver needs no client library of its own.
"""

from recommender.datasets.movielens import resolve_path


def _path_and_fs(spark, path):
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(resolve_path(path))
    return hadoop_path, hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def exists(spark, path):
    hadoop_path, fs = _path_and_fs(spark, path)
    return bool(fs.exists(hadoop_path))


def status(spark, path):
    """``(full path, length, modification time)`` of ``path``."""
    hadoop_path, fs = _path_and_fs(spark, path)
    found = fs.getFileStatus(hadoop_path)
    return found.getPath().toString(), found.getLen(), found.getModificationTime()


def read_text(spark, path):
    return read_bytes(spark, path).decode("utf-8")


def read_bytes(spark, path):
    hadoop_path, fs = _path_and_fs(spark, path)
    stream = fs.open(hadoop_path)
    try:
        return bytes(stream.readAllBytes())
    finally:
        stream.close()


def write_bytes(spark, path, data):
    """A new file holding ``data``, synced (``hsync``) before it is closed."""
    hadoop_path, fs = _path_and_fs(spark, path)
    stream = fs.create(hadoop_path, True)
    try:
        stream.write(bytearray(data))
        stream.hsync()
    finally:
        stream.close()


def write_text_atomically(spark, path, text):
    write_atomically(spark, path, text.encode("utf-8"))


def write_atomically(spark, path, data):
    """Replace ``path`` with ``data`` in one rename: readers see the old file or the new one, never a part.

    The data goes to a temporary file beside it, then ``FileContext.rename`` with OVERWRITE
    (an atomic rename(2) locally and on HDFS; object stores have no atomic rename, see
    docs/pipeline.md).
    """
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    target, fs = _path_and_fs(spark, path)
    temporary = jvm.org.apache.hadoop.fs.Path(target.getParent(), "." + target.getName() + ".tmp")
    stream = fs.create(temporary, True)
    try:
        stream.write(bytearray(data))
        stream.hsync()  # on disk before it becomes the file readers see
    finally:
        stream.close()
    context = jvm.org.apache.hadoop.fs.FileContext.getFileContext(target.toUri(), conf)
    options = spark.sparkContext._gateway.new_array(jvm.org.apache.hadoop.fs.Options.Rename, 1)
    options[0] = jvm.org.apache.hadoop.fs.Options.Rename.OVERWRITE
    context.rename(fs.makeQualified(temporary), fs.makeQualified(target), options)


def make_directory(spark, path):
    hadoop_path, fs = _path_and_fs(spark, path)
    fs.mkdirs(hadoop_path)


def rename(spark, source, target):
    """Rename ``source`` to ``target`` (atomic locally and on HDFS); OSError when the filesystem refuses."""
    source_path, fs = _path_and_fs(spark, source)
    target_path, _ = _path_and_fs(spark, target)
    if not fs.rename(source_path, target_path):
        raise OSError(f"cannot rename {source} to {target}")


def list_names(spark, path):
    """Names of the entries of directory ``path`` (empty if it does not exist)."""
    hadoop_path, fs = _path_and_fs(spark, path)
    if not fs.exists(hadoop_path):
        return []
    return [entry.getPath().getName() for entry in fs.listStatus(hadoop_path)]


def delete(spark, path):
    hadoop_path, fs = _path_and_fs(spark, path)
    fs.delete(hadoop_path, True)
