"""``spark-submit sagemaker_train.py [--ml-root DIR]``: SageMaker's training job (``bin/train`` runs it)."""

import sys

from recommender.offline.sagemaker_training import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
