"""The live model: the trained model serving reads, with every rating accepted since folded in.

Reads are answered from the driver's NumPy arrays, never by a Spark job. Writes are made
durable in the ratings log first, then folded into the writer's factors at once. A new
trained model is swapped in whole, with the ratings its data lacked folded in again.
"""

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np

from recommender.model.errors import InvalidRatingError, NotFittedError, UnknownMovieError
from recommender.model.filters import NO_FILTERS, pick
from recommender.model.fold_in import fold_in, fold_in_rows, prepare
from recommender.model.results import ModelSummary, Movie, Prediction, Recommendations, UserRating
from recommender.model.scoring import clip_ratings, rank_score_rows, score_rows, top_rows
from recommender.model.thresholds import model_min_ratings
from recommender.model.trained import TrainedModel

log = logging.getLogger(__name__)

ORDERS = ("relevance", "rating")  # what recommend can rank by; the first is the default


@dataclass(eq=False)  # compared by identity: its arrays have no truth value
class Batch:
    """Ratings written to the log and waiting for their fsync before they are applied."""

    user_id: int
    movie_ids: np.ndarray
    values: np.ndarray
    ticket: object  # the RatingsLog's Ticket, None without a log
    model: TrainedModel = None  # the model the batch was validated against, and its catalog rows there
    rows: np.ndarray = None
    applied: bool = False  # set under the write lock once folded in (or dropped after a failed fsync)


@dataclass(frozen=True)
class Serving:
    """What reads see: a model and the users folded in against it since it was trained."""

    model: TrainedModel
    users: dict  # user_id -> UserState


class LiveModel:
    """Serves a TrainedModel and takes new ratings; see the module's docstring.

    Parameters
    ----------
    ratings_log : recommender.datasets.ratings_log.RatingsLog, optional
        Where accepted ratings are made durable; None keeps them in memory only.
    min_ratings : int, optional
        The operator's default ``min_ratings`` of top-N lists; None fits it to each model's
        data (``recommender.model.thresholds``).
    """

    def __init__(self, ratings_log=None, min_ratings=None):
        self.ratings_log = ratings_log
        self.min_ratings = min_ratings
        self._serving = None
        self._accepted = 0  # ratings accepted so far, the log's record count
        self._accepted_log_size = None  # bytes of the log holding the accepted ratings
        self._unmodelled = {}  # user_id -> [(position, movie_ids, ratings)] accepted after the model's data
        self._waiting = []  # Batches in log order, written but not yet known durable
        self._write_lock = threading.Lock()
        self._epoch = 0  # raised when the unmodelled ratings are replaced whole (replay, activate)
        self._swap_lock = threading.Lock()
        self._swap_tail = None  # while a model swaps in: [(user_id, entry)] of _unmodelled added meanwhile

    # -- reads: answered from the driver's arrays, never by a Spark job --------------------

    @property
    def model(self):
        """The TrainedModel serving reads, or None before the first one."""
        serving = self._serving
        return None if serving is None else serving.model

    def _current(self):
        serving = self._serving
        if serving is None:
            raise NotFittedError("no trained model is serving yet")
        return serving

    @staticmethod
    def _user_state(serving, user_id):
        return serving.users.get(user_id) or serving.model.user(user_id)

    def min_ratings_in_force(self, model=None):
        """The default ``min_ratings``: the operator's, else the one fitted to ``model`` (the serving one)."""
        if self.min_ratings is not None:
            return self.min_ratings
        return model_min_ratings(model or self._current().model)

    def recommend(self, user_id, count=10, min_ratings=None, order="relevance", filters=None):
        """Top movies for a user, best first, never one the user has rated.

        Parameters
        ----------
        user_id : int
        count : int
            At most this many movies.
        min_ratings : int, optional
            Only movies with at least this many ratings are candidates (new movies
            reserved by ``filters.new`` excepted). None: ``min_ratings_in_force``, a
            default and not the caller's rule, so where it leaves fewer than ``count``
            candidates the list is drawn from every rated movie instead: a user is never
            answered a short list while the filters allow more.
        order : str
            ``"relevance"``: by the ranking model's score (what the user is likely to
            pick); ``"rating"``: by predicted rating.
        filters : recommender.model.filters.Filters, optional
            Business rules on the candidates; see that module.

        Returns
        -------
        Recommendations
            Personalized when the user has factors in the model ``order`` ranks by,
            otherwise the movies with the best damped mean rating.

        Raises
        ------
        FilterError
            When ``filters`` cannot apply to this model (an unknown genre, say).
        """
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        if min_ratings is not None and min_ratings < 0:
            raise ValueError(f"min_ratings must be at least 0, got {min_ratings}")
        if order not in ORDERS:
            raise ValueError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
        serving = self._current()
        model, user = serving.model, self._user_state(serving, user_id)
        filters = (filters or NO_FILTERS).check(model)
        by_relevance = order == "relevance"
        personalized = (user.rank_factors if by_relevance else user.factors) is not None
        if not personalized:
            scores = model.catalog.damped_mean
        elif by_relevance:
            scores = rank_score_rows(model, user, slice(None))
        else:
            scores = score_rows(model, user, slice(None))
        threshold = self.min_ratings_in_force(model) if min_ratings is None else min_ratings
        eligible = candidates(model, user, threshold, personalized)
        best, new, remaining = pick(model, scores, eligible, filters, user.rows, count)
        if min_ratings is None and remaining is not None and threshold > 1:
            eligible = candidates(model, user, 1, personalized)
            best, new, remaining = pick(model, scores, eligible, filters, user.rows, count)
        rows = np.concatenate([best, new]).astype(np.int64)
        reasons = ["personalized" if personalized else "popular"] * len(best) + ["new"] * len(new)
        items = [
            Prediction(movie, rating, personalized, score, reason)
            for movie, rating, score, reason in zip(
                movies_of(model.catalog, rows), *self._rating_and_score(model, user, rows), reasons,
            )
        ]
        return Recommendations(user_id, personalized, model.version, items, filters, remaining)

    @staticmethod
    def _rating_and_score(model, user, rows):
        """Clipped predicted ratings and ranking scores of ``rows``; the damped mean where a model lacks the user."""
        popular = model.catalog.damped_mean[rows]
        known = model.has_factors[rows]
        ratings = popular if user.factors is None else np.where(known, score_rows(model, user, rows), popular)
        scores = popular if user.rank_factors is None else np.where(known, rank_score_rows(model, user, rows), popular)
        return clip_ratings(model, ratings).tolist(), np.asarray(scores, np.float64).tolist()

    def predict(self, user_id, movie_id):
        """Predicted rating and ranking score of one movie for one user.

        Raises
        ------
        UnknownMovieError
            When ``movie_id`` is not in the catalog.
        """
        serving = self._current()
        model, user = serving.model, self._user_state(serving, user_id)
        row = model.catalog.row(movie_id)
        if row < 0:
            raise UnknownMovieError(movie_id)
        (rating,), (score,) = self._rating_and_score(model, user, np.array([row]))
        personalized = user.factors is not None and bool(model.has_factors[row])
        return Prediction(model.catalog.movie(row), rating, personalized, score)

    def user_ratings(self, user_id):
        """The user's own ratings in movie id order (empty for an unknown user)."""
        serving = self._current()
        model, user = serving.model, self._user_state(serving, user_id)
        return [UserRating(model.catalog.movie(row), float(value)) for row, value in zip(user.rows, user.ratings)]

    def summary(self):
        """What the serving model was trained on and when.

        Returns
        -------
        ModelSummary
        """
        model = self._current().model
        return ModelSummary(
            version=model.version,
            trained_at=model.trained_at.isoformat(),
            rank=model.item_factors.shape[1],
            params=model.params,
            users=int(len(model.user_ids)),
            movies=int(len(model.catalog.movie_ids)),
            ratings=int(len(model.rated_rows)),
            rating_scale=tuple(model.rating_scale),
            log_position=model.log_position,
            accepted_ratings=self._accepted,
            min_ratings=self.min_ratings_in_force(model),
            min_ratings_source="data" if self.min_ratings is None else "option",
        )

    # -- writes ----------------------------------------------------------------------------

    def add_ratings(self, user_id, ratings):
        """Add or replace a user's ratings, durably, and refit that user's factors at once.

        The whole batch is validated before anything changes. With a ratings log the
        ratings are appended, and fsynced before this returns: a caller acknowledges
        them only after that.

        Parameters
        ----------
        user_id : int
        ratings : sequence of (movie_id, rating)

        Returns
        -------
        list of UserRating
            The accepted ratings, in the order given.

        Raises
        ------
        InvalidRatingError
            For the first invalid rating; nothing is applied.
        """
        model = self._current().model  # a swap before the fold-in is fine: fold_in passes over movies it lacks
        movie_ids, rows, values = validated(model, ratings)
        with self._write_lock:  # the log's order is the order ratings are applied in
            ticket = None
            if self.ratings_log is not None:
                ticket = self.ratings_log.write(user_id, ratings, int(time.time()))  # LogWriteError: nothing logged
            batch = Batch(user_id, movie_ids, values, ticket, model, rows)
            self._waiting.append(batch)
        try:
            if self.ratings_log is not None:
                self.ratings_log.sync(ticket)  # outside the lock, so concurrent writers share an fsync
        except Exception:
            with self._write_lock:
                if batch in self._waiting:
                    self._waiting.remove(batch)
            raise
        if not batch.applied:  # the writer that applied the batches one fsync covered did this one too
            with self._write_lock:
                self._apply_durable()
        return [UserRating(movie, v) for movie, v in zip(movies_of(model.catalog, rows), values.tolist())]

    def _apply_durable(self):
        """Fold in the waiting batches that are on disk, in log order; drop those a failed fsync cut off.

        Applying only after the fsync means a failed one leaves the served state without the batch.
        """
        while self._waiting:
            batch = self._waiting[0]
            if batch.ticket is not None and not self.ratings_log.durable(batch.ticket):
                if batch.ticket.generation == self.ratings_log.generation:
                    return  # still waiting for its fsync; what follows it in the log waits too
                self._waiting.pop(0).applied = True  # cut off with a failed fsync: its writer is told so
                continue
            self._waiting.pop(0)
            self._accepted += len(batch.movie_ids)
            if batch.ticket is not None:
                self._accepted_log_size = batch.ticket.end
            self._note_unmodelled(batch.user_id, (self._accepted, batch.movie_ids, batch.values))
            serving = self._serving
            state = self._user_state(serving, batch.user_id)
            serving.users[batch.user_id] = batch_folded_in(serving.model, state, batch)
            batch.applied = True  # last: its writer, reading it without the lock, may answer once it is set

    def replay(self, logged, covered):
        """Take the ratings log's records as accepted, those after ``covered`` as unmodelled.

        Called at start-up, before ``swap_model``, so the served model gets the logged
        ratings its training data did not include.

        Parameters
        ----------
        logged : pyarrow.Table
            The log's records (``RatingsLog.open``).
        covered : int
            How many of them the model to be served was trained on.
        """
        unmodelled = unmodelled_of(logged, covered)
        with self._write_lock:
            self._accepted = logged.num_rows
            self._accepted_log_size = None if self.ratings_log is None else self.ratings_log.size
            self._unmodelled = unmodelled
            self._epoch += 1
        log.info("%d logged ratings of %d users replayed on top of the model", logged.num_rows - covered, len(unmodelled))

    def accepted_position(self):
        """(ratings accepted, log bytes holding them): what a retrain started now covers."""
        with self._write_lock:
            return self._accepted, self._accepted_log_size

    @property
    def accepted(self):
        """Ratings accepted so far; with a shared store, the store position folded in (read without the lock)."""
        return self._accepted

    def apply_committed(self, batches):
        """Fold in batches another replica committed to the shared store, the next ones in commit order.

        Parameters
        ----------
        batches : list of (user_id, movie_ids, values)
            Whole batches as committed, in commit order, right after the ratings accepted so far.
        """
        with self._write_lock:
            serving = self._serving
            for user_id, movie_ids, values in batches:
                self._accepted += len(movie_ids)
                self._note_unmodelled(user_id, (self._accepted, movie_ids, values))
                known = serving.model.catalog.known(movie_ids)
                state = self._user_state(serving, user_id)
                serving.users[user_id] = fold_in(serving.model, state.rows, state.ratings, movie_ids[known], values[known])
            self._accepted_log_size = self._accepted

    def write_failure(self):
        """Why the last write to the ratings log failed, or None while writes succeed."""
        return None if self.ratings_log is None else self.ratings_log.failure

    def unmodelled_count(self):
        """Ratings accepted that the serving model was not trained on."""
        model = self.model
        return self._accepted - (model.log_position if model is not None else 0)

    def swap_model(self, model):
        """Serve ``model`` from now on, with ratings accepted after its data folded in again.

        The fold-ins are done off the write lock, so writes go on while a model swaps in:
        the ratings accepted so far are folded into the new model first, then, under the
        lock, only those accepted meanwhile (a catch-up of a few batches) before it serves.

        Raises
        ------
        ValueError
            If ``model`` is not newer than the one serving: versions never go backwards.
        """
        with self._swap_lock:  # one swap at a time: the tail of ratings accepted meanwhile is one list
            with self._write_lock:
                self._check_newer(model)
                epoch, self._swap_tail = self._epoch, []
                entries = [(user_id, list(items)) for user_id, items in self._unmodelled.items()]
            try:
                self._swap_in(model, epoch, entries)
            finally:
                self._swap_tail = None

    def _swap_in(self, model, epoch, entries):
        prepare(model)  # what every fold-in shares: built here once, not by each write
        unmodelled = {}
        for user_id, items in entries:
            kept = [item for item in items if item[0] > model.log_position]
            if kept:
                unmodelled[user_id] = kept
        users = folded_in(model, unmodelled.items(), {})
        with self._write_lock:
            self._check_newer(model)
            if epoch != self._epoch:  # a rollback replaced the unmodelled ratings meanwhile: fold in again
                self._serve(model)
                return
            tail = self._swap_tail
            for user_id, item in tail:  # accepted while the swap was folding in, in log order
                unmodelled.setdefault(user_id, []).append(item)
                folded_in(model, [(user_id, [item])], users)
            self._unmodelled = unmodelled
            self._serving = Serving(model, users)
        log.info("serving model %s (%d users folded in again, %d batches caught up under the lock)",
                 model.version, len(users), len(tail))

    def _check_newer(self, model):
        current = self._serving
        if current is not None and model.version <= current.model.version:
            raise ValueError(f"model {model.version} is not newer than {current.model.version}")

    def activate(self, model):
        """Serve ``model`` now, newer or older than the one serving (a rollback), with every logged rating
        after its data folded in.

        The ratings log is read again under the write lock, as ``swap_model`` can only fold in
        what the serving model lacks: nothing is accepted in between, so nothing is missed.
        """
        with self._write_lock:
            if self.ratings_log is not None:
                logged = self.ratings_log.read(self.ratings_log.size)
                self._accepted = logged.num_rows
                self._unmodelled = unmodelled_of(logged, min(model.log_position, logged.num_rows))
            self._epoch += 1
            self._serve(model)

    def unmodelled_ratings(self):
        """The accepted ratings the serving model lacks, the newest per (user, movie): (users, movies, ratings)."""
        with self._write_lock:
            entries = [(user, movies, values) for user, items in self._unmodelled.items() for _, movies, values in items]
        if not entries:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32)
        users = np.concatenate([np.full(len(movies), user, np.int64) for user, movies, _ in entries])
        return users, np.concatenate([m for _, m, _ in entries]), np.concatenate([v for _, _, v in entries])

    def _serve(self, model):
        """Serve ``model`` with the unmodelled ratings folded in; the caller holds the write lock."""
        prepare(model)
        for user_id, entries in list(self._unmodelled.items()):
            entries = [entry for entry in entries if entry[0] > model.log_position]
            if entries:
                self._unmodelled[user_id] = entries
            else:
                del self._unmodelled[user_id]
        self._serving = Serving(model, folded_in(model, self._unmodelled.items(), {}))
        log.info("serving model %s (%d users folded in again)", model.version, len(self._serving.users))

    def _note_unmodelled(self, user_id, entry):
        """Keep ``entry`` (position, movie_ids, ratings) as a rating the model lacks; the caller holds the write lock."""
        self._unmodelled.setdefault(user_id, []).append(entry)
        if self._swap_tail is not None:
            self._swap_tail.append((user_id, entry))


def folded_in(model, entries, users):
    """``users`` (user_id -> UserState against ``model``) with ``entries`` folded in.

    ``entries`` are (user_id, [(position, movie_ids, ratings)]) in log order per user; a
    user not in ``users`` starts from ``model``'s trained state.
    """
    for user_id, items in entries:
        state = users.get(user_id) or model.user(user_id)
        for _, movie_ids, values in items:
            state = fold_in(model, state.rows, state.ratings, movie_ids, values)
        users[user_id] = state
    return users


def batch_folded_in(model, state, batch):
    """``state`` with ``batch`` folded in: by the rows its validation found, unless another model serves since."""
    if model is batch.model:
        return fold_in_rows(model, state.rows, state.ratings, batch.rows, batch.values)
    return fold_in(model, state.rows, state.ratings, batch.movie_ids, batch.values)


def movies_of(catalog, rows):
    """``catalog.movie(row)`` of each of ``rows``, the arrays converted once for the list, not per movie."""
    rows = np.asarray(rows, np.int64)
    return [
        Movie(movie_id=movie_id, title=catalog.titles[row], genres=catalog.genres[row], ratings_count=count)
        for row, movie_id, count in zip(rows.tolist(), catalog.movie_ids[rows].tolist(), catalog.ratings_count[rows].tolist())
    ]


def candidates(model, user, min_ratings, personalized):
    """Which catalog rows a user's top-N may hold: enough ratings, factors if personalized, not rated by the user."""
    eligible = model.catalog.ratings_count >= max(min_ratings, 1)
    if personalized:
        eligible &= model.has_factors
    eligible[user.rows] = False
    return eligible


def unmodelled_of(logged, covered):
    """user id -> [(position, movie_ids, ratings)] of the log's records after the first ``covered``.

    The last rating of each (user, movie) wins, as it did when it was accepted.
    """
    users = logged.column("userId").to_numpy().astype(np.int64)[covered:]
    movies = logged.column("movieId").to_numpy().astype(np.int64)[covered:]
    values = logged.column("rating").to_numpy().astype(np.float32)[covered:]
    order = np.argsort(users, kind="stable")  # by user, in log order within each
    starts = np.flatnonzero(np.r_[True, users[order][1:] != users[order][:-1]]) if len(users) else []
    unmodelled = {}
    for begin, end in zip(starts, [*starts[1:], len(order)]):
        mine = order[begin:end]
        last = len(mine) - 1 - np.unique(movies[mine][::-1], return_index=True)[1]
        unmodelled[int(users[mine[0]])] = [(covered + int(mine[-1]) + 1, movies[mine][last], values[mine][last])]
    return unmodelled


def validated(model, ratings):
    """The batch as (movie_ids, catalog rows, ratings) arrays, or InvalidRatingError for its first bad rating.

    Checked as arrays: a batch costs a few NumPy calls, not a catalog search per rating.
    """
    if len(ratings) == 0:
        raise InvalidRatingError(0, "no ratings given")
    try:
        movie_ids = np.fromiter((movie_id for movie_id, _ in ratings), np.int64, len(ratings))
    except OverflowError:  # beyond int64, so in no catalog
        index, movie_id = next((i, m) for i, (m, _) in enumerate(ratings) if not -2**63 <= m < 2**63)
        raise InvalidRatingError(index, f"movie {movie_id} is not in the catalog") from None
    values = np.fromiter((rating for _, rating in ratings), np.float64, len(ratings))
    low, high = model.rating_scale
    rows, known = model.catalog.lookup(movie_ids)
    unknown = ~known
    off_scale = ~(np.isfinite(values) & (low <= values) & (values <= high))
    order = np.argsort(movie_ids, kind="stable")
    repeated = np.zeros(len(movie_ids), bool)
    repeated[order[1:][movie_ids[order[1:]] == movie_ids[order[:-1]]]] = True  # every occurrence after the first
    bad = unknown | off_scale | repeated
    if bad.any():
        index = int(np.argmax(bad))
        if unknown[index]:
            raise InvalidRatingError(index, f"movie {movie_ids[index]} is not in the catalog")
        if off_scale[index]:
            raise InvalidRatingError(index, f"rating {values[index]:g} is outside the scale {low:g} to {high:g}")
        raise InvalidRatingError(index, f"movie {movie_ids[index]} is rated twice in this batch")
    return movie_ids, rows, values.astype(np.float32)
