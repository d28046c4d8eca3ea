"""Checks that a dataset or file a command names is there, before Spark spends its start-up time.

Shared by the service's start-up checks and the offline jobs; each raises StartupError, whose
message says what is wrong and what was expected in one line.
"""

import os
from urllib.parse import urlparse

from recommender.datasets.layouts import MOVIELENS_FILES
from recommender.datasets.parquet import MANIFEST

# The dataset layouts read, by name: the files each needs. A new layout adds a line here.
DATASET_LAYOUTS = {
    "a MovieLens CSV directory with ratings.csv and movies.csv": MOVIELENS_FILES,
    f"an etl.py Parquet dataset with {MANIFEST}": (MANIFEST,),
}


class StartupError(Exception):
    """A mistake in the command's options or environment, said in one line."""


def local_path(path):
    """The local file system path of ``path``, or None for another file system (hdfs://, s3a://)."""
    parsed = urlparse(path)
    if parsed.scheme in ("", "file"):
        return parsed.path if parsed.scheme else path
    return None


def expected_layouts():
    return " or ".join(DATASET_LAYOUTS)


def check_dataset(path):
    """A local dataset directory exists and holds the files of one known layout."""
    local = local_path(path)
    if local is None:
        return  # Spark reads it; only Spark can say whether it is there
    if not os.path.isdir(local):
        raise StartupError(f"dataset {path} {'is not a directory' if os.path.exists(local) else 'does not exist'}; "
                           f"expected {expected_layouts()}")
    lacking = {layout: [f for f in files if not os.path.exists(os.path.join(local, f))]
               for layout, files in DATASET_LAYOUTS.items()}
    if all(lacking.values()):
        missing = min(lacking.values(), key=len)
        raise StartupError(f"dataset {path} lacks {' and '.join(missing)}; expected {expected_layouts()}")


def check_file(path, what):
    local = local_path(path)
    if local is not None and not os.path.isfile(local):
        raise StartupError(f"{what} {path} does not exist")
