# make run    set up .venv and serve the bundled dataset (ARGS="--port 8080" passes options)
# make test   set up .venv and run the test suite (PYTEST_ARGS="-k engine" narrows it)
# make check  the same for the tests that start no service (no end-to-end, bench or slow ones): the inner loop
# make bench  set up .venv, load-test the service and measure training against data size
#             (LOAD_ARGS="--short" and SCALE_ARGS="--sizes 20M" pass options; see bench/*.py --help)
# make evaluate / make tune  set up .venv and run evaluate.py / tune.py (ARGS passes options)

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# spark-submit finds its Python on PATH; the venv's must come first.
WITH_VENV := PATH="$(BIN):$$PATH" PYSPARK_PYTHON="$(BIN)/python"
# Spark's JVM logs warnings only (conf/log4j2.properties) unless ARGS has --verbose: log4j reads its
# configuration when the JVM starts, before any Python runs, so the driver cannot quiet it.
SPARK_SUBMIT := spark-submit $(if $(findstring --verbose,$(ARGS)),,--driver-java-options "-Dlog4j2.configurationFile=$(CURDIR)/conf/log4j2.properties")

.PHONY: run test check bench evaluate tune check-java setup

run: setup
	$(WITH_VENV) $(SPARK_SUBMIT) server.py $(ARGS)

# Two pytest-xdist workers, each running one test file at a time (a file's module-scoped service is
# started once), in the order tests/conftest.py sorts them: the end-to-end tests mostly wait for
# JVMs, so two files at once use the 2 cores that one leaves idle. PYTEST_WORKERS= runs one process.
PYTEST_WORKERS ?= -n 2 --dist loadfile --no-loadscope-reorder

test: setup
	$(WITH_VENV) python -m pytest $(PYTEST_WORKERS) $(PYTEST_ARGS)

# tests/end_to_end and tests/bench start the service (or a cluster, or the Docker image) as a process.
check: setup
	$(WITH_VENV) python -m pytest $(PYTEST_WORKERS) -m "not slow" --ignore=tests/end_to_end --ignore=tests/bench $(PYTEST_ARGS)

SCALE_ARGS ?= --sizes 100k 1M 5M

bench: setup
	$(WITH_VENV) python bench/load.py $(LOAD_ARGS)
	$(WITH_VENV) python bench/training_scale.py $(SCALE_ARGS)

evaluate: setup
	$(WITH_VENV) $(SPARK_SUBMIT) evaluate.py $(ARGS)

tune: setup
	$(WITH_VENV) $(SPARK_SUBMIT) tune.py $(ARGS)

setup: check-java $(VENV)/.installed

# Spark 4 runs on Java 17 or newer: JAVA_HOME's java if set, as spark-submit does, else PATH's.
check-java:
	@java="$${JAVA_HOME:+$$JAVA_HOME/bin/}java"; \
	 if ! command -v "$$java" >/dev/null 2>&1; then \
	   echo "error: Java not found ($$java). Spark 4 needs Java 17 or newer: install it" \
	        "(Debian/Ubuntu: apt-get install openjdk-17-jre-headless) or set JAVA_HOME." >&2; exit 1; fi; \
	 major=$$("$$java" -version 2>&1 | sed -n 's/.*version "\(1\.\)\{0,1\}\([0-9]*\).*/\2/p' | head -n 1); \
	 if [ "$${major:-0}" -lt 17 ]; then \
	   echo "error: $$java is Java $${major:-of unknown version}; Spark 4 needs Java 17 or newer." >&2; exit 1; fi

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@
