"""Trained models saved as version folders under the state directory.

A version folder holds ``arrays.npz`` (the factors, id maps and ratings index, loaded in
well under a second), ``catalog.json`` (titles and genres), ``meta.json`` (parameters,
counts, data fingerprint, training time, log position, and the size and sha256 of the
other files and the shape and dtype of each array) and ``als/`` (the Spark ``ALSModel``).
A folder is written under a temporary name and renamed when complete, so a crash during
a save never leaves a folder that looks loadable; a save that fails (a full disk) removes
its partial folder. A version whose files do not match what ``meta.json`` recorded is
passed over with the reason logged, never served.

Every file access goes through ``files`` (recommender.storage.files): Hadoop's FileSystem of
the running SparkContext in the service, so the directory may be any path Spark writes
(``hdfs://``, ``s3a://``, ``file://`` or a plain local path); the operating system's calls in
processes without Spark.
"""

import dataclasses
import hashlib
import io
import json
import logging
import re
import time
import zipfile
from datetime import datetime

import numpy as np

from recommender.model.movies import MovieTable
from recommender.model.trained import VERSION_PATTERN, TrainedModel
from recommender.storage.files import LocalFiles, join

log = logging.getLogger(__name__)

VERSION_FOLDER = re.compile(VERSION_PATTERN)
# Bumped whenever TrainedModel's fields change meaning; saved models of another format
# are passed over (and retrained) rather than served wrongly.
# 2: biased model (score_offset, user_bias, item_bias); 3: no global_mean, popularity_damping saved;
# 4: the ranking model's factors (rank_item_factors, rank_user_factors); 5: catalog.mean_rating and
# catalog.first_rated (discovery)
FORMAT = 5
FILES = ("arrays.npz", "catalog.json", "meta.json")
CHECKED_FILES = ("arrays.npz", "catalog.json")  # meta.json records their size and checksum


class DamagedModelError(ValueError):
    """A saved version's files are not those recorded when it was saved."""
# Written into a version the quality gate rejected (recommender.storage.model_catalog):
# kept for inspection and explicit activation, never loaded at start-up on its own.
REJECTED = "rejected.json"


class ModelStore:
    """Version folders of saved models in ``directory``, the newest ``keep`` kept.

    ``files`` reaches the directory (default ``LocalFiles``: a local path or ``file://`` URI).
    """

    def __init__(self, directory, keep=3, files=None):
        self.directory = str(directory)
        self.keep = keep
        self.files = files or LocalFiles()

    def path(self, *names):
        return join(self.directory, *names)

    def versions(self):
        """Complete saved versions, newest first."""
        complete = []
        for name in (n for n in self.files.list_names(self.directory) if VERSION_FOLDER.fullmatch(n)):
            missing = [f for f in FILES if not self.files.exists(self.path(name, f))]
            if missing:
                log.warning("saved model %s lacks %s; not used", name, ", ".join(missing))
            else:
                complete.append(name)
        return sorted(complete, reverse=True)

    def save(self, model, rejection=None):
        """Save ``model`` as a version folder, then drop versions beyond ``keep``.

        ``rejection`` (a JSON-able dict) marks the version rejected, in the same atomic rename.
        """
        started = time.perf_counter()
        self.files.make_directory(self.directory)
        final = self.path(model.version)
        partial = self.path(f".partial-{model.version}")
        self.files.delete(partial)
        try:
            write_version(self.files, partial, model, rejection)
            self.files.rename_directory(partial, final)
        except BaseException:
            # e.g. a full disk: the older versions stay as they were, and no half folder stays behind
            self.files.delete(partial)
            raise
        log.info("model %s saved to %s (%.1fs)", model.version, final, time.perf_counter() - started)
        self._prune()
        return final

    def rejection(self, version):
        """Why the gate rejected ``version``, or None when it did not."""
        path = self.path(version, REJECTED)
        return self.read_json(path) if self.files.exists(path) else None

    def read_json(self, path):
        return json.loads(self.files.read_bytes(path).decode("utf-8"))

    def _prune(self):
        # The newest ``keep`` accepted versions and the newest ``keep`` rejected ones: a run of
        # rejections never prunes the version that serves.
        versions = self.versions()
        rejected = {v for v in versions if self.rejection(v) is not None}
        kept = [v for v in versions if v not in rejected][:self.keep] + [v for v in versions if v in rejected][:self.keep]
        for version in versions:
            if version in kept:
                continue
            self.files.delete(self.path(version))
            log.info("model %s removed (keeping %d)", version, self.keep)

    def load(self, version):
        """The saved model ``version`` (without its Spark model, which serving does not need).

        Raises
        ------
        DamagedModelError
            When a file's size or checksum, or an array's shape or dtype, is not what was saved.
        """
        meta = self.read_json(self.path(version, "meta.json"))
        contents = {name: self.files.read_bytes(self.path(version, name)) for name in CHECKED_FILES}
        check_files(contents, meta)
        with np.load(io.BytesIO(contents["arrays.npz"])) as saved:
            arrays = dict(saved)
        check_arrays(arrays, meta)
        meta = {k: v for k, v in meta.items() if k not in ("files", "arrays")}
        return from_files(arrays, json.loads(contents["catalog.json"].decode("utf-8")), meta)

    def load_matching(self, data_fingerprint, log_records):
        """The newest saved model trained on these dataset files and on no more of the log than exists.

        Returns None when there is none; unreadable versions are logged and passed over.
        """
        def matches(meta):
            return meta["data_fingerprint"] == data_fingerprint and meta["log_position"] <= log_records

        return self._load_newest_where(matches)

    def load_newest(self):
        """The newest saved model, whatever data it was trained on.

        For serving a model as it is (``server.py --model-dir``): another format or an
        unreadable version is logged and passed over, as by ``load_matching``.

        Returns
        -------
        recommender.model.trained.TrainedModel or None
            None when the directory holds no loadable model.
        """
        return self._load_newest_where(lambda meta: True)

    def _load_newest_where(self, matches):
        for version in self.versions():
            try:
                meta = self.read_json(self.path(version, "meta.json"))
                if self.rejection(version) is not None:
                    log.info("saved model %s was rejected by the quality gate; not used", version)
                    continue
                if meta.get("format") != FORMAT:
                    log.info("saved model %s has another format; not used", version)
                    continue
                if not matches(meta):
                    log.info("saved model %s does not match the data; not used", version)
                    continue
                started = time.perf_counter()
                model = self.load(version)
            except (OSError, ValueError, KeyError, TypeError, AttributeError, EOFError, zipfile.BadZipFile) as error:
                log.warning("saved model %s is damaged or unreadable (%s: %s); trying an older one",
                            version, type(error).__name__, error)
                continue
            log.info("saved model %s loaded in %.2fs", version, time.perf_counter() - started)
            return model
        return None


def write_version(files, folder, model, rejection=None):
    """Write the version's files into ``folder``, meta.json last with the others' sizes and checksums."""
    files.make_directory(folder)
    if rejection is not None:
        files.write_bytes(join(folder, REJECTED), json_bytes(rejection))
    arrays, catalog, meta = to_files(model)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    contents = {"arrays.npz": buffer.getvalue(), "catalog.json": json_bytes(catalog)}
    for name, data in contents.items():
        files.write_bytes(join(folder, name), data)
    meta["files"] = {name: file_record(data) for name, data in contents.items()}
    meta["arrays"] = {name: {"shape": list(value.shape), "dtype": str(value.dtype)} for name, value in arrays.items()}
    files.write_bytes(join(folder, "meta.json"), json_bytes(meta))
    if model.spark_model is not None:
        model.spark_model.write().overwrite().save(files.spark_uri(join(folder, "als")))


def file_record(data):
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def check_files(contents, meta):
    """``contents`` (name -> bytes read) are the files ``meta`` recorded."""
    if "files" not in meta:
        raise DamagedModelError("meta.json records no checksums (saved before they were recorded)")
    for name in CHECKED_FILES:
        expected, found = meta["files"][name], file_record(contents[name])
        if found["bytes"] != expected["bytes"]:
            raise DamagedModelError(f"{name} has {found['bytes']} bytes, {expected['bytes']} were saved")
        if found["sha256"] != expected["sha256"]:
            raise DamagedModelError(f"{name} does not match its checksum")


def check_arrays(arrays, meta):
    expected = meta["arrays"]
    if set(arrays) != set(expected):
        raise DamagedModelError(f"arrays.npz holds {sorted(arrays)}, {sorted(expected)} were saved")
    for name, value in arrays.items():
        if list(value.shape) != expected[name]["shape"] or str(value.dtype) != expected[name]["dtype"]:
            raise DamagedModelError(f"array {name} is {value.dtype}{list(value.shape)}, not as saved")


def to_files(model):
    """(arrays, catalog JSON, meta JSON) of a TrainedModel, field by field."""
    arrays, meta = {}, {}
    for field in dataclasses.fields(model):
        value = getattr(model, field.name)
        if field.name in ("catalog", "spark_model"):
            continue
        if isinstance(value, np.ndarray):
            arrays[field.name] = value
        elif isinstance(value, datetime):
            meta[field.name] = value.isoformat()
        else:
            meta[field.name] = value
    catalog = {}
    for field in dataclasses.fields(model.catalog):
        value = getattr(model.catalog, field.name)
        if isinstance(value, np.ndarray):
            arrays["catalog." + field.name] = value
        else:
            catalog[field.name] = value
    meta["format"] = FORMAT
    return arrays, catalog, meta


def from_files(arrays, catalog, meta):
    catalog_fields = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("catalog.")}
    catalog_fields.update(catalog)
    catalog_fields["genres"] = [tuple(genres) for genres in catalog_fields["genres"]]
    fields = {k: v for k, v in arrays.items() if not k.startswith("catalog.")}
    fields.update({k: v for k, v in meta.items() if k != "format"})
    fields["trained_at"] = datetime.fromisoformat(meta["trained_at"])
    fields["rating_scale"] = tuple(meta["rating_scale"])
    return TrainedModel(catalog=MovieTable(**catalog_fields), **fields)


def json_bytes(value):
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as out:
        json.dump(value, out, ensure_ascii=False)


def read_json(path):
    with open(path, encoding="utf-8") as existing:
        return json.load(existing)
