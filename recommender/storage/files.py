"""The files of a model store: a local or shared disk, or any path Spark writes through Hadoop.

``HadoopFiles`` goes through the Hadoop FileSystem API of the running SparkContext, so a
``--model-store`` may be ``hdfs://``, ``s3a://`` (with the connector on the classpath), a
``file://`` URI or a plain path, all the same code. ``LocalFiles`` does the same with the
operating system's calls, for processes without Spark (the ``--workers`` serving processes,
offline commands): plain paths and ``file://`` URIs only.

A plain path is a local path in both (made absolute), never the cluster's default
filesystem: ``/tmp/x`` and ``file:///tmp/x`` are the same directory.
"""

import functools
import os
import shutil
from urllib.parse import urlsplit

from py4j.protocol import Py4JJavaError

from recommender.datasets import hadoop_fs
from recommender.durability import fsync_directory, fsync_tree

LOCAL_SCHEME = "file"


def scheme_of(path):
    return urlsplit(str(path)).scheme


def local_path(path):
    """The local path of a plain path or ``file://`` URI; ValueError for any other scheme."""
    path = str(path)
    scheme = scheme_of(path)
    if scheme == LOCAL_SCHEME:
        return urlsplit(path).path
    if scheme:
        raise ValueError(f"{path} is not on a local disk: reading it needs Spark's Hadoop client")
    return os.path.abspath(path)


def join(directory, *names):
    return "/".join([str(directory).rstrip("/"), *names])


class LocalFiles:
    """Model store files through the operating system (plain paths and ``file://`` URIs)."""

    def list_names(self, directory):
        path = local_path(directory)
        return os.listdir(path) if os.path.isdir(path) else []

    def exists(self, path):
        return os.path.exists(local_path(path))

    def read_bytes(self, path):
        with open(local_path(path), "rb") as existing:
            return existing.read()

    def write_bytes(self, path, data):
        """A new file holding ``data``, fsynced."""
        with open(local_path(path), "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())

    def write_atomically(self, path, data):
        """Replace ``path`` in one rename: readers see the old file or the new one."""
        target = local_path(path)
        self.write_bytes(target + ".tmp", data)
        os.replace(target + ".tmp", target)
        remove_hadoop_checksum(target)
        fsync_directory(os.path.dirname(target))

    def make_directory(self, path):
        os.makedirs(local_path(path), exist_ok=True)

    def delete(self, path):
        """Remove a file or a whole directory; nothing if it is not there."""
        target = local_path(path)
        if os.path.isdir(target):
            shutil.rmtree(target, ignore_errors=True)
        elif os.path.exists(target):
            os.remove(target)
            remove_hadoop_checksum(target)

    def rename_directory(self, source, target):
        """Move a complete directory to its final name, durably."""
        fsync_tree(local_path(source))
        os.rename(local_path(source), local_path(target))
        fsync_directory(os.path.dirname(local_path(target)))

    def spark_uri(self, path):
        return "file://" + local_path(path)


def remove_hadoop_checksum(path):
    """Drop the ``.NAME.crc`` Hadoop's local filesystem keeps beside a file it wrote: stale once the file changes here.

    (Hadoop checks a file it reads against it, and would refuse ``active.json`` rewritten by a process without Spark.)
    """
    checksum = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.crc")
    if os.path.exists(checksum):
        os.remove(checksum)


def as_os_error(method):
    """A Java IOException (file not found, permission, a store unreachable) as the OSError callers handle."""
    @functools.wraps(method)
    def wrapped(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except Py4JJavaError as error:
            raise OSError(str(error.java_exception)) from None
    return wrapped


class HadoopFiles:
    """Model store files through the Hadoop FileSystem API of ``spark``'s SparkContext."""

    def __init__(self, spark):
        self.spark = spark

    def _uri(self, path):
        """Plain paths are local (``file://``), as for ``LocalFiles``; URIs stay as they are."""
        return str(path) if scheme_of(path) else "file://" + os.path.abspath(str(path))

    @as_os_error
    def list_names(self, directory):
        return hadoop_fs.list_names(self.spark, self._uri(directory))

    @as_os_error
    def exists(self, path):
        return hadoop_fs.exists(self.spark, self._uri(path))

    @as_os_error
    def read_bytes(self, path):
        return hadoop_fs.read_bytes(self.spark, self._uri(path))

    @as_os_error
    def write_bytes(self, path, data):
        hadoop_fs.write_bytes(self.spark, self._uri(path), data)

    @as_os_error
    def write_atomically(self, path, data):
        hadoop_fs.write_atomically(self.spark, self._uri(path), data)

    @as_os_error
    def make_directory(self, path):
        hadoop_fs.make_directory(self.spark, self._uri(path))

    @as_os_error
    def delete(self, path):
        hadoop_fs.delete(self.spark, self._uri(path))

    @as_os_error
    def rename_directory(self, source, target):
        if scheme_of(self._uri(source)) == LOCAL_SCHEME:  # Spark's als/ files were written without an fsync
            fsync_tree(local_path(source))
        hadoop_fs.rename(self.spark, self._uri(source), self._uri(target))

    def spark_uri(self, path):
        return self._uri(path)


def files_for(spark):
    """Hadoop's FileSystem where a SparkContext runs, the operating system's elsewhere."""
    return HadoopFiles(spark) if spark is not None else LocalFiles()
