"""The service's logging: through a queue, so request threads never wait on writing a log line."""

import logging
import logging.handlers
import queue

from recommender.spark_job import LOG_FORMAT

ACCESS_LOGGER = "access"


def log_in_background(access_log=None, verbose=False):
    """Send every log record through a queue to stderr (and the access log to ``access_log``).

    The access log (TransLogger's logger) goes to the file ``access_log`` if given, else
    to stderr with the rest. py4j's own INFO chatter is shown only when ``verbose``.
    Returns the QueueListener that writes; stop it to flush.
    """
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handlers = [handler]
    if access_log:
        # Watched: logrotate may move the file away; the next line then goes to a new one.
        access_handler = logging.handlers.WatchedFileHandler(access_log, encoding="utf-8")
        access_handler.addFilter(logging.Filter(ACCESS_LOGGER))
        handler.addFilter(lambda record: not record.name.startswith(ACCESS_LOGGER))
        handlers.append(access_handler)
    records = queue.SimpleQueue()
    to_queue = logging.handlers.QueueHandler(records)
    to_queue.setFormatter(logging.Formatter("%(message)s"))  # the listener's handlers add any prefix
    logging.basicConfig(level=logging.INFO, handlers=[to_queue])
    logging.getLogger("py4j").setLevel(logging.DEBUG if verbose else logging.WARNING)
    listener = logging.handlers.QueueListener(records, *handlers)
    listener.start()
    return listener
