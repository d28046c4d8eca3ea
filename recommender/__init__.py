"""The movie recommender's parts, one sub-package per idea.

- ``datasets``: reading rating data (MovieLens CSV) and the durable ratings log.
- ``model``: training in Spark, the trained arrays, NumPy scoring and fold-in, the live model.
- ``storage``: saved model versions and the tuned-parameters file.
- ``offline``: evaluation, tuning and the SageMaker training job.
- ``http``: blueprints, auth, request parsing, JSON shapes, OpenAPI, Prometheus, the cheroot server.
- ``service``: the running service's configuration, lifecycle and background retraining.

The entry points at the top of the repository (``server.py``, ``evaluate.py``, ...) wire
these together; nothing in this package imports them.
"""
