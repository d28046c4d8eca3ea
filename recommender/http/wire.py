"""The JSON shapes of the API, made from the model's plain results; the only place they are made."""

import dataclasses


def movie_json(movie):
    return {"movieId": movie.movie_id, "title": movie.title, "genres": list(movie.genres)}


def prediction_json(prediction):
    body = {
        **movie_json(prediction.movie),
        "predictedRating": round(prediction.rating, 4),
        "score": round(prediction.score, 4),
        "ratingsCount": prediction.movie.ratings_count,
    }
    if prediction.reason:
        body["reason"] = prediction.reason
    return body


def user_rating_json(user_rating):
    return {"movieId": user_rating.movie.movie_id, "title": user_rating.movie.title, "rating": round(user_rating.rating, 4)}


def recommendations_json(recommendations):
    """The top-N body: the shape every recommending route answers with."""
    return {
        "userId": recommendations.user_id,
        "personalized": recommendations.personalized,
        "modelVersion": recommendations.model_version,
        **list_extras(recommendations.filters, recommendations.candidates),
        "recommendations": [prediction_json(p) for p in recommendations.items],
    }


def summary_json(summary):
    """A ModelSummary as ``/health`` shows it."""
    return {
        "modelVersion": summary.version,
        "trainedAt": summary.trained_at,
        "rank": summary.rank,
        "params": summary.params,
        "users": summary.users,
        "movies": summary.movies,
        "ratings": summary.ratings,
        "ratingScale": list(summary.rating_scale),
        "logPosition": summary.log_position,
        "acceptedRatings": summary.accepted_ratings,
        "minRatings": summary.min_ratings,
        "minRatingsSource": summary.min_ratings_source,
    }


def training_json(status):
    """A RetrainingStatus as ``/health`` and ``/admin/retrain`` show it."""
    return {
        "running": status.running,
        "retrains": status.retrains,
        "unmodelledRatings": status.unmodelled_ratings,
        "lastSuccess": status.last_success,
        "lastError": status.last_error,
        "consecutiveFailures": status.consecutive_failures,
        "nextRetryInSeconds": status.next_retry_in_seconds,
        "policy": status.policy,
        "rejected": status.rejected,
        "lastRejection": status.last_rejection,
        "nextRetrain": next_retrain_json(status.next_retrain),
    }


def retrain_conflict_json(replica, status):
    """``POST /admin/retrain`` while another replica of the shared store retrains (409)."""
    return {
        "error": "another replica is retraining",
        "retrainingReplica": replica,
        "detail": "replicas of one ratings store retrain one at a time; every replica serves its model once "
        "it is saved: ask again after that to train on the ratings that came since",
        "training": training_json(status),
    }


def next_retrain_json(next_retrain):
    """A NextRetrain: what the next retrain waits for, and why it will start."""
    if next_retrain is None:
        return None
    return {
        "waitingFor": next_retrain.waiting_for,
        "reason": next_retrain.reason,
        "pendingRatings": next_retrain.pending_ratings,
        "thresholdRatings": next_retrain.threshold_ratings,
        "startsInSeconds": next_retrain.starts_in_seconds,
    }


def catalog_entry_json(entry, serving_version):
    """A CatalogEntry as ``/models`` shows it."""
    record = entry.record or {}
    return {
        "modelVersion": entry.version,
        "trainedAt": entry.trained_at,
        "serving": entry.version == serving_version,
        "rejected": entry.rejection is not None,
        "rejection": entry.rejection,
        "params": entry.params,
        "logPosition": entry.log_position,
        "dataFingerprint": entry.data_fingerprint,
        "trainingSeconds": record.get("seconds"),
        "counts": record.get("counts"),
        "heldout": record.get("heldout"),
    }


def catalog_json(entries, serving_version, activated):
    return {
        "serving": serving_version,
        "activated": activated,
        "models": [catalog_entry_json(entry, serving_version) for entry in entries],
    }


def ratings_summary_json(summary):
    return {"ratings": summary.ratings, "mean": summary.mean, "median": summary.median, "histogram": summary.histogram}


def drift_json(report):
    """A DriftReport as ``/drift`` and ``drift.py --json`` show it."""
    return {
        "modelVersion": report.model_version,
        "retrain": report.retrain,
        "reasons": report.reasons,
        "score": report.score,
        "klDivergence": report.kl_divergence,
        "meanShift": report.mean_shift,
        "medianShift": report.median_shift,
        "newUsersShare": report.new_users_share,
        "newMoviesShare": report.new_movies_share,
        "model": report.model,
        "bins": report.bins,
        "reference": ratings_summary_json(report.reference),
        "current": ratings_summary_json(report.current),
        "thresholds": dataclasses.asdict(report.thresholds),
    }


def writes_json(failure):
    """Whether posted ratings can be made durable now, and why not."""
    return {"ok": failure is None, "error": failure}


def movie_details_json(details):
    """A movie as discovery routes show it."""
    return {
        **movie_json(details.movie),
        "year": details.year,
        "ratingsCount": details.movie.ratings_count,
        "meanRating": None if details.mean_rating is None else round(details.mean_rating, 4),
    }


def filters_json(filters):
    """The filters a list applied (only those given), as the response echoes them."""
    names = {"exclude_popular": "excludePopular"}
    return {names.get(name, name): value for name, value in filters.applied().items()}


def list_extras(filters, candidates):
    """What a filtered list adds to its body: the filters applied, and how many movies were left if too few."""
    extras = {}
    if filters is not None and filters.applied():
        extras["filters"] = filters_json(filters)
    if candidates is not None:
        extras["candidates"] = candidates
    return extras


def similar_json(similar):
    return {
        "movie": movie_details_json(similar.movie),
        "basis": similar.basis,
        "modelVersion": similar.model_version,
        **list_extras(similar.filters, similar.candidates),
        "similar": [
            {**movie_details_json(details), "similarity": round(similarity, 6), "reason": reason}
            for details, similarity, reason in similar.items
        ],
    }


def popular_json(popular):
    return {
        "by": popular.by,
        "modelVersion": popular.model_version,
        **list_extras(popular.filters, popular.candidates),
        "movies": [{**movie_details_json(details), "reason": reason} for details, reason in popular.items],
    }
