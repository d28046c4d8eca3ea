"""A saved model named by a path, for offline commands (evaluate.py, drift.py)."""

import os

from recommender.storage.model_store import VERSION_FOLDER, ModelStore


def load_saved_model(path):
    """The model of a version folder, or the newest loadable one of a models directory.

    Raises
    ------
    FileNotFoundError
        When ``path`` holds no loadable model.
    """
    path = os.path.abspath(path)
    name = os.path.basename(path.rstrip("/"))
    if VERSION_FOLDER.fullmatch(name) and os.path.isdir(path):
        return ModelStore(os.path.dirname(path)).load(name)
    model = ModelStore(path).load_newest()
    if model is None:
        raise FileNotFoundError(f"no saved model in {path}")
    return model
