"""A temporary /opt/ml layout for SageMaker's training job, and reading what it wrote."""

import json
import os

from recommender.offline.sagemaker_training import MlLayout
from tests.support.tiny_data import write_tiny_dataset


def ml_layout(root, hyperparameters=None, channels=("training",)):
    """A /opt/ml layout under ``root``: hyperparameters.json and the tiny dataset in each channel."""
    layout = MlLayout(str(root))
    if hyperparameters is not None:
        os.makedirs(os.path.dirname(layout.hyperparameters))
        with open(layout.hyperparameters, "w", encoding="utf-8") as file:
            file.write(hyperparameters if isinstance(hyperparameters, str) else json.dumps(hyperparameters))
    for channel in channels:
        write_tiny_dataset(root / "input" / "data" / channel)
    return layout


def read_text(path):
    with open(path, encoding="utf-8", errors="replace") as file:
        return file.read()
