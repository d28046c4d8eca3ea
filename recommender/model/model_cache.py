"""What reads derive from a TrainedModel (indexes, normalized factors), built once per model.

A TrainedModel is immutable and replaced whole, so what is derived from it is kept on the
model object itself: it is built by the first read that needs it and goes with the model.
"""

import threading

_lock = threading.RLock()  # re-entrant: one derived value may be built from another


def cached(model, name, build):
    """``build()``, computed once per ``model`` and kept under ``name``."""
    key = f"_derived_{name}"
    value = model.__dict__.get(key)
    if value is None:
        with _lock:  # two first requests at once build it once
            value = model.__dict__.get(key)
            if value is None:
                value = build()
                object.__setattr__(model, key, value)  # not a field: equality and saving ignore it
    return value
