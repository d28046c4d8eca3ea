"""Polling helpers for tests of things that happen in the background."""

import time

import pytest


def wait_for(condition, timeout=240, interval=0.1):
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout}s")
