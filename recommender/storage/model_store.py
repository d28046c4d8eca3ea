"""Trained models saved as version folders under the state directory.

A version folder holds ``arrays.npz`` (the factors, id maps and ratings index, loaded in
well under a second), ``catalog.json`` (titles and genres), ``meta.json`` (parameters,
counts, data fingerprint, training time, log position) and ``als/`` (the Spark
``ALSModel``). A folder is written under a temporary name and renamed when complete, so
a crash during a save never leaves a folder that looks loadable.
"""

import dataclasses
import json
import logging
import os
import re
import shutil
import time
from datetime import datetime

import numpy as np

from recommender.durability import fsync_directory, fsync_tree
from recommender.model.movies import MovieTable
from recommender.model.trained import VERSION_PATTERN, TrainedModel

log = logging.getLogger(__name__)

VERSION_FOLDER = re.compile(VERSION_PATTERN)
# Bumped whenever TrainedModel's fields change meaning; saved models of another format
# are passed over (and retrained) rather than served wrongly.
# 2: biased model (score_offset, user_bias, item_bias); 3: no global_mean, popularity_damping saved;
# 4: catalog.mean_rating and catalog.first_rated (discovery)
FORMAT = 4
FILES = ("arrays.npz", "catalog.json", "meta.json")
# Written into a version the quality gate rejected (recommender.storage.model_catalog):
# kept for inspection and explicit activation, never loaded at start-up on its own.
REJECTED = "rejected.json"


class ModelStore:
    """Version folders of saved models in ``directory``, the newest ``keep`` kept."""

    def __init__(self, directory, keep=3):
        self.directory = str(directory)
        self.keep = keep

    def versions(self):
        """Complete saved versions, newest first."""
        if not os.path.isdir(self.directory):
            return []
        names = [n for n in os.listdir(self.directory) if VERSION_FOLDER.fullmatch(n)]
        complete = [n for n in names if all(os.path.exists(os.path.join(self.directory, n, f)) for f in FILES)]
        return sorted(complete, reverse=True)

    def save(self, model, rejection=None):
        """Save ``model`` as a version folder, then drop versions beyond ``keep``.

        ``rejection`` (a JSON-able dict) marks the version rejected, in the same atomic rename.
        """
        started = time.perf_counter()
        os.makedirs(self.directory, exist_ok=True)
        final = os.path.join(self.directory, model.version)
        partial = os.path.join(self.directory, f".partial-{model.version}")
        shutil.rmtree(partial, ignore_errors=True)
        os.makedirs(partial)
        arrays, catalog, meta = to_files(model)
        np.savez(os.path.join(partial, "arrays.npz"), **arrays)
        write_json(os.path.join(partial, "catalog.json"), catalog)
        write_json(os.path.join(partial, "meta.json"), meta)
        if rejection is not None:
            write_json(os.path.join(partial, REJECTED), rejection)
        if model.spark_model is not None:
            model.spark_model.write().overwrite().save("file://" + os.path.join(os.path.abspath(partial), "als"))
        fsync_tree(partial)
        os.rename(partial, final)
        fsync_directory(self.directory)
        log.info("model %s saved to %s (%.1fs)", model.version, final, time.perf_counter() - started)
        self._prune()
        return final

    def rejection(self, version):
        """Why the gate rejected ``version``, or None when it did not."""
        path = os.path.join(self.directory, version, REJECTED)
        return read_json(path) if os.path.exists(path) else None

    def _prune(self):
        # The newest ``keep`` accepted versions and the newest ``keep`` rejected ones: a run of
        # rejections never prunes the version that serves.
        versions = self.versions()
        rejected = {v for v in versions if self.rejection(v) is not None}
        kept = [v for v in versions if v not in rejected][:self.keep] + [v for v in versions if v in rejected][:self.keep]
        for version in versions:
            if version in kept:
                continue
            shutil.rmtree(os.path.join(self.directory, version), ignore_errors=True)
            log.info("model %s removed (keeping %d)", version, self.keep)

    def load(self, version):
        """The saved model ``version`` (without its Spark model, which serving does not need)."""
        folder = os.path.join(self.directory, version)
        with np.load(os.path.join(folder, "arrays.npz")) as saved:
            arrays = dict(saved)
        return from_files(arrays, read_json(os.path.join(folder, "catalog.json")), read_json(os.path.join(folder, "meta.json")))

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
                meta = read_json(os.path.join(self.directory, version, "meta.json"))
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
            except (OSError, ValueError, KeyError) as error:
                log.warning("saved model %s is unreadable (%s); not used", version, error)
                continue
            log.info("saved model %s loaded in %.2fs", version, time.perf_counter() - started)
            return model
        return None


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


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as out:
        json.dump(value, out, ensure_ascii=False)


def read_json(path):
    with open(path, encoding="utf-8") as existing:
        return json.load(existing)

