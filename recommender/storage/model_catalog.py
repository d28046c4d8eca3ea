"""The model catalog: what every saved version records, which the gate rejected, which is activated.

Read from each version folder's ``meta.json`` (and ``rejected.json``) without loading its
arrays, so listing the catalog costs a few small file reads. An activated version is
remembered in ``active.json`` beside the versions, so a restart serves it again. A retrain
asked of a process that cannot train (a ``--workers`` serving worker) is left in
``retrain-requested.json`` for the one that trains.
"""

import logging
from dataclasses import dataclass

from recommender.storage.model_store import VERSION_FOLDER, json_bytes

log = logging.getLogger(__name__)

ACTIVE = "active.json"
RETRAIN_REQUEST = "retrain-requested.json"


@dataclass(frozen=True)
class CatalogEntry:
    """One saved version as the catalog shows it."""

    version: str
    trained_at: str
    params: dict
    log_position: int
    data_fingerprint: str
    record: dict  # seconds, counts, heldout metrics; None for a version saved without them
    rejection: dict  # why the quality gate rejected it; None when it did not


class ModelCatalog:
    """The catalog of a ModelStore's versions."""

    def __init__(self, store):
        self.store = store

    def entries(self):
        """Every saved version, newest first."""
        return [entry for entry in map(self.entry, self.store.versions()) if entry is not None]

    def entry(self, version):
        """The CatalogEntry of ``version``, or None when no such version is saved and readable."""
        if not VERSION_FOLDER.fullmatch(version) or version not in self.store.versions():
            return None
        try:
            meta = self.store.read_json(self.store.path(version, "meta.json"))
            return CatalogEntry(
                version=version, trained_at=meta["trained_at"], params=meta["params"],
                log_position=meta.get("log_position", 0), data_fingerprint=meta.get("data_fingerprint", ""),
                record=meta.get("record"), rejection=self.store.rejection(version),
            )
        except (OSError, ValueError, KeyError) as error:
            log.warning("saved model %s is unreadable (%s)", version, error)
            return None

    def activate(self, version):
        """Remember ``version`` as the one to serve, until a newer version is accepted."""
        self.store.files.write_atomically(self.store.path(ACTIVE), json_bytes({"version": version}))

    def activated(self):
        """The version last activated, or None (then the newest accepted version serves)."""
        path = self.store.path(ACTIVE)
        try:
            return self.store.read_json(path)["version"] if self.store.files.exists(path) else None
        except (OSError, ValueError, KeyError):
            return None

    def clear_activation(self):
        self.store.files.delete(self.store.path(ACTIVE))

    def request_retrain(self, at):
        """Leave a retrain request (``at``: when it was asked, ISO 8601) for a process that trains."""
        self.store.files.make_directory(self.store.directory)
        self.store.files.write_atomically(self.store.path(RETRAIN_REQUEST), json_bytes({"requested_at": at}))

    def take_retrain_request(self):
        """True, once, when a retrain request is waiting; it is removed, so one request starts one retrain."""
        path = self.store.path(RETRAIN_REQUEST)
        if not self.store.files.exists(path):
            return False
        self.store.files.delete(path)
        return True
