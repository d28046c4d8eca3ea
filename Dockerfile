# The service on the bundled dataset: docker build -t recommender . && docker run -p 5432:5432 recommender
# The same image is a SageMaker training and inference image: "docker run recommender train" and
# "docker run -p 8080:8080 recommender serve" (bin/; see docs/docker-and-sagemaker.md).
# podman and buildah keep the HEALTHCHECK only in Docker's image format: podman build --format docker.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY *.py model_params.json ./
COPY recommender/ recommender/
COPY bin/ bin/
COPY conf/ conf/
COPY data/ data/

# SageMaker's documentation asks for containers that run as root; build its image with
# --build-arg RUN_AS=root. Everywhere else the service runs as this unprivileged user, which
# owns the state directory and SageMaker's layout (for local runs of train and serve).
ARG RUN_AS=recommender
RUN useradd --create-home --uid 10001 recommender \
 && mkdir -p state /opt/ml/input/config /opt/ml/input/data /opt/ml/model /opt/ml/output \
 && chown -R recommender state /opt/ml
USER ${RUN_AS}
# The dataset (replace it by mounting another MovieLens-format directory) and the ratings log
# and saved models, which must outlive the container.
VOLUME ["/app/data", "/app/state"]

ENV PYSPARK_PYTHON=python3
ENV PATH="/app/bin:${PATH}"
# 5432: the service (the default command); 8080: SageMaker's serve.
EXPOSE 5432 8080
# Liveness on whichever of the two ports is serving; urllib, as slim images have no curl. Any
# failure on a port (refused, an error status, or something there that is not HTTP) counts as down.
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
  CMD ["python3", "-c", "import os, sys, urllib.request\nfor port in (5432, int(os.environ.get('SAGEMAKER_BIND_TO_PORT', 8080))):\n    try:\n        urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=3)\n        sys.exit(0)\n    except Exception:\n        pass\nsys.exit(1)"]
# Spark's JVM logs warnings only: log4j reads its configuration when the JVM starts (as in the Makefile).
CMD ["spark-submit", "--driver-java-options", "-Dlog4j2.configurationFile=/app/conf/log4j2.properties", \
     "server.py", "--host", "0.0.0.0"]
