"""etl.py as users run it: every option in --help, one clear line and a non-zero exit on bad input."""

import os
import subprocess
import sys

import pytest

import etl

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("kind, options", [
    ("netflix", ["--input", "--titles", "--titles-encoding"]),
    ("purchases", ["--input", "--value", "--since"]),
    ("merge", ["--input"]),
    ("movielens", ["--input"]),
])
def test_every_option_is_in_help(kind, options, capsys):
    with pytest.raises(SystemExit) as exit_:
        etl.parse_args([kind, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for option in options + ["--output", "--shuffle-partitions", "--ratings-files", "--movies-files", "--verbose"]:
        assert option in text


def test_a_bad_date_is_refused_before_spark_starts(capsys):
    with pytest.raises(SystemExit) as exit_:
        etl.parse_args(["purchases", "--input", "x.csv", "--output", "out", "--since", "2011-13-01"])
    assert exit_.value.code == 2
    assert "--since: not a date YYYY-MM-DD: '2011-13-01'" in capsys.readouterr().err


def test_a_missing_input_is_one_clear_line_and_exit_2(tmp_path):
    spark_submit = os.path.join(os.path.dirname(sys.executable), "spark-submit")
    result = subprocess.run(
        [spark_submit, "--master", "local[1]", "etl.py", "merge", "--input", str(tmp_path / "log.csv"),
         "--output", str(tmp_path / "out")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300,
        env=dict(os.environ, PYSPARK_PYTHON=sys.executable),
    )
    # spark-submit merges the Python driver's stderr into its stdout.
    assert result.returncode == 2
    assert f"etl.py merge: error: input {tmp_path / 'log.csv'} does not exist" in result.stdout
    assert "Traceback" not in result.stdout and "at org.apache" not in result.stdout
