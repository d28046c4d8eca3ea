"""bench/replay.py's HTTP side: one batch's prequential read and POST, retries, and the final check.

Plain ``requests``: no Spark, no import of the service's code, so it runs anywhere the
service is reachable.
"""

import logging
import time
from dataclasses import dataclass

import requests

from replay_report import score_top

log = logging.getLogger("replay")

TOP = 10
RETRYABLE = (503,)


@dataclass(frozen=True)
class Batch:
    """One POST: a user's ratings of one day (or one time window), in time order."""

    user_id: int
    time: int  # the first rating's timestamp, seconds
    movie_ids: tuple
    ratings: tuple


@dataclass(frozen=True)
class BatchResult:
    """What one batch met: the prequential score of the read before it, and its POST."""

    batch: Batch
    kind: str  # "new" (the service had nothing personal for the user) or "returning"; None if unread
    hits: float  # hits@10: 1 if any movie the user went on to rate was in the top-10
    ndcg: float  # NDCG@10 of the top-10 against those movies
    post_seconds: float  # the accepted attempt's response time; None on failure
    acknowledged: int  # ratings the 201 answer echoed back
    error: str  # None when the POST was acknowledged
    model_version: str  # X-Model-Version of the POST (or the read)
    finished_at: float  # time.monotonic()


class ServiceClient:
    """Requests to the service with retries: 503 waits its ``Retry-After``, a dropped connection a moment.

    Parameters
    ----------
    url : str
    api_key : str, optional
        Sent as ``Authorization: Bearer`` on every request (writes and protected reads need it).
    retries : int
        Attempts after the first before a request counts as failed.
    timeout : float
        Seconds per attempt.
    min_ratings : int, optional
        The ``min_ratings`` of the top-10 reads (default: the service's).
    """

    def __init__(self, url, api_key=None, retries=20, timeout=30.0, min_ratings=None):
        self.url = url.rstrip("/")
        self.retries = retries
        self.timeout = timeout
        self.params = {} if min_ratings is None else {"min_ratings": str(min_ratings)}
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.retried = 0  # attempts repeated, over every thread (approximate: not locked)

    def session(self):
        session = requests.Session()
        session.headers.update(self.headers)
        return session

    def request(self, session, method, path, **kwargs):
        """The response (any status but a retryable one) and its attempt's seconds; raises after the retries."""
        for attempt in range(self.retries + 1):
            started = time.perf_counter()
            try:
                response = session.request(method, self.url + path, timeout=self.timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as error:
                if attempt == self.retries:
                    raise
                log.debug("%s %s: %s; retrying", method, path, error)
                wait = min(0.25 * 2**attempt, 5.0)
            else:
                if response.status_code not in RETRYABLE or attempt == self.retries:
                    return response, time.perf_counter() - started
                wait = retry_after(response)
            self.retried += 1
            time.sleep(wait)
        raise AssertionError("unreachable")

    def send(self, session, batch):
        """Read the user's top-10, score it against the batch, then POST the batch."""
        kind, hits, ndcg, version = None, None, None, None
        try:
            response, _ = self.request(session, "GET", f"/{batch.user_id}/ratings/top/{TOP}", params=self.params)
            if response.status_code == 200:
                body = response.json()
                shown = [item["movieId"] for item in body["recommendations"]]
                hits, ndcg = score_top(shown, batch.movie_ids, TOP)
                kind = "returning" if body["personalized"] else "new"
                version = response.headers.get("X-Model-Version")
        except requests.RequestException as error:
            log.debug("user %d: top-10 unread: %s", batch.user_id, error)
        body = "".join(f"{movie},{rating:g}\n" for movie, rating in zip(batch.movie_ids, batch.ratings))
        try:
            response, seconds = self.request(session, "POST", f"/{batch.user_id}/ratings", data=body)
        except requests.RequestException as error:
            return BatchResult(batch, kind, hits, ndcg, None, 0, f"{type(error).__name__}", version, time.monotonic())
        if response.status_code != 201:
            error = f"{response.status_code} {response.text[:200].strip()}"
            return BatchResult(batch, kind, hits, ndcg, None, 0, error, version, time.monotonic())
        acknowledged = len(response.json()["ratings"])
        version = response.headers.get("X-Model-Version", version)
        return BatchResult(batch, kind, hits, ndcg, seconds, acknowledged, None, version, time.monotonic())

    def served_ratings(self, session, user_id):
        """``{movie_id: rating}`` of what the service holds for the user."""
        response, _ = self.request(session, "GET", f"/{user_id}/ratings")
        response.raise_for_status()
        return {item["movieId"]: item["rating"] for item in response.json()["ratings"]}

    def status(self, session):
        """(retrains so far, serving model version) from ``/health``; (None, None) if unanswered."""
        try:
            response, _ = self.request(session, "GET", "/health")
            body = response.json()
        except (requests.RequestException, ValueError):
            return None, None
        training = body.get("training") or {}
        model = body.get("model") or {}
        return training.get("retrains"), model.get("modelVersion")

    def drift_score(self, session):
        """(whether the service has ``/drift``, its score or None): a 404 means no such route."""
        try:
            response, _ = self.request(session, "GET", "/drift")
        except requests.RequestException:
            return True, None
        if response.status_code != 200:
            return response.status_code != 404, None
        return True, response.json().get("score")


def retry_after(response):
    """Seconds the 503 asks to wait (``Retry-After``, seconds form), 1 when absent, at most 30."""
    try:
        return min(max(float(response.headers.get("Retry-After", "1")), 0.05), 30.0)
    except ValueError:  # the HTTP-date form: not sent by this service
        return 1.0


def missing_ratings(client, session, sent):
    """Sent ratings the service does not hold, as (user, movie, rating sent, rating held or None).

    ``sent`` maps user -> {movie: rating}, the last value sent per movie (a re-rating replaces).
    """
    missing = []
    for user_id, ratings in sent.items():
        served = client.served_ratings(session, user_id)
        for movie_id, rating in ratings.items():
            held = served.get(movie_id)
            if held is None or abs(held - rating) > 1e-3:
                missing.append((user_id, movie_id, rating, held))
    return missing
