"""A service's state directory with a saved model in it, trained in the test process's Spark.

A service started on such a state directory (and the same dataset directory: the saved model
matches the dataset by its files' paths, sizes and times) loads the model instead of training:
no reading of the dataset, no ALS, no saving in the service's own, cold JVM. For the services
whose tests are about something other than training at start-up.
"""

import shutil

import server
from recommender.service.lifecycle import Service
from tests.support.service_process import QUICK_TRAINING


def save_model_as_server_would(spark, dataset, state_dir, *server_args):
    """Train and save in ``state_dir`` what ``server.py --dataset dataset --state-dir state_dir server_args`` would.

    The same start-up path as the service's (``Service.load_matching_or_train``), on ``spark``.
    """
    args = server.parse_args(["--dataset", str(dataset), "--state-dir", str(state_dir), *QUICK_TRAINING, *server_args])
    service = Service(spark, server.service_config(args), on_failure=lambda: None)
    try:
        service.load_matching_or_train()
    finally:
        service.close()
    return state_dir


class SavedModel:
    """A dataset directory, read-only, and a state directory whose saved model was trained on it."""

    def __init__(self, dataset, state_dir):
        self.dataset = dataset
        self.state_dir = state_dir

    def copy_state(self, target):
        """A state directory of the test's own at ``target``: what a service writes stays in it."""
        shutil.copytree(self.state_dir, target)
        return target
