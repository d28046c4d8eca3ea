"""The app's settings: the API's limits and keys, with their defaults."""

DEFAULT_CONFIG = {
    "MAX_CONTENT_LENGTH": 1024 * 1024,  # bytes of a POST body; larger gets 413
    "MAX_LINES": 1000,  # ratings in one POST; more gets 400
    "MAX_COUNT": 1000,  # largest count of the top-N route
    "MAX_BATCH_USERS": 100,  # most userIds in one POST /invocations
    # min_ratings of requests that give none; None: the engine's (server.py --min-ratings, else fitted to the data)
    "DEFAULT_MIN_RATINGS": None,
    "API_KEYS": (),  # bearer keys that writes need; empty leaves writes open and /admin disabled
    "PROTECT_READS": False,  # data reads need a key too (probes, metrics and the API document stay open)
    "RETRY_AFTER": 5,  # seconds, told to clients while the model is loading
}


def app_config(overrides=None):
    """DEFAULT_CONFIG with ``overrides`` on top; debug mode is refused (it would show tracebacks)."""
    config = dict(overrides or {})
    if config.get("DEBUG"):
        raise ValueError("debug mode is not supported: it would show tracebacks to clients")
    return {**DEFAULT_CONFIG, **config, "DEBUG": False, "PROPAGATE_EXCEPTIONS": False}
