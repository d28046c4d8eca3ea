"""Start-up time of the service on the bundled data: cold (training) against a saved model.

    python bench/restart.py

Both starts run the same command in one state directory, one after the other; the
figure is the wall time from launching spark-submit until ``/ready`` answers 200.
"""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.support.service_process import ServiceProcess  # noqa: E402


def time_to_ready(scratch, name):
    started = time.perf_counter()
    service = ServiceProcess(os.path.join(scratch, f"{name}.log"), "--state-dir", os.path.join(scratch, "state"))
    try:
        service.wait_until_up()
        seconds = time.perf_counter() - started
        trained = "training ALS" in service.log(tail=None)
    finally:
        service.stop()
    return seconds, trained


def main():
    with tempfile.TemporaryDirectory() as scratch:
        cold, cold_trained = time_to_ready(scratch, "cold")
        warm, warm_trained = time_to_ready(scratch, "warm")
    assert cold_trained and not warm_trained, "the second start should load the saved model"
    print(f"{'start':<20} {'ready after':>12}")
    print(f"{'cold (trains)':<20} {cold:>11.1f}s")
    print(f"{'saved model':<20} {warm:>11.1f}s")
    print(f"saved-model start is {cold / warm:.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
