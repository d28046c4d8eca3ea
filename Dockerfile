# The service on the bundled dataset: docker build -t recommender . && docker run -p 5432:5432 recommender
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY app.py dataset.py engine.py model_params.py model_params.json model_store.py openapi.py ratings_log.py retraining.py \
     server.py service.py evaluate.py evaluation.py tune.py ./
COPY data/ data/

RUN useradd --create-home --uid 10001 recommender && mkdir state && chown recommender state
USER recommender
VOLUME ["/app/state"]

ENV PYSPARK_PYTHON=python3
EXPOSE 5432
CMD ["spark-submit", "server.py", "--host", "0.0.0.0"]
