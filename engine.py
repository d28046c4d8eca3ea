"""RecommendationEngine: ALS trained in Spark, every read answered from NumPy on the driver.

The facade over ``recommender.model``: ``train`` runs in Spark and returns a TrainedModel
without touching what serves; ``swap_model`` serves it; reads (``recommend``, ``predict``,
``user_ratings``) and writes (``add_ratings``) are the live model's.
"""

from recommender.model.errors import (  # noqa: F401  (the engine's public names)
    InvalidRatingError,
    NotFittedError,
    RecommendationError,
    UnknownMovieError,
)
from recommender.model.live_model import LiveModel
from recommender.model.params import ModelParams
from recommender.model.results import ModelSummary, Movie, Prediction, Recommendations, UserRating  # noqa: F401
from recommender.model.trained import TrainedModel, model_version  # noqa: F401
from recommender.model.training import train


class RecommendationEngine(LiveModel):
    """Collaborative filtering with Spark ALS, served from factors copied to the driver.

    Explicit ratings train a biased model: the global mean and damped user and movie
    biases, then ALS on what they leave unexplained. Implicit mode trains Spark's
    implicit-feedback ALS on the ratings as confidences, for ranking only.

    Parameters
    ----------
    ratings_log : recommender.datasets.ratings_log.RatingsLog, optional
        Where accepted ratings are made durable; None keeps them in memory.
    **params
        ``ModelParams`` fields: rank, iterations, reg_param, seed, popularity_damping,
        bias_damping, implicit_prefs, alpha.
    """

    def __init__(self, ratings_log=None, **params):
        super().__init__(ratings_log)
        self.params = ModelParams(**params)

    def fit(self, dataset):
        """Train on ``dataset`` and serve the result.

        Returns
        -------
        RecommendationEngine
            ``self``, fitted.
        """
        self.swap_model(self.train(dataset))
        return self

    def train(self, dataset, log_position=0, data_fingerprint=""):
        """Train ALS in Spark on ``dataset``; what serves is not touched.

        Parameters
        ----------
        dataset : recommender.datasets.movielens.Dataset
        log_position : int
            How many ratings of the log ``dataset`` includes.
        data_fingerprint : str
            Identifies the dataset files, so a saved model can be matched to them.

        Returns
        -------
        TrainedModel
        """
        training = train(dataset, self.params, log_position, data_fingerprint)
        if training.biases is not None:
            training.biases.unpersist()  # offline evaluation's; serving needs only the arrays
        return training.model
