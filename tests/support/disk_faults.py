"""Disk failures injected at the os-level call, for one file only: the code under test is not mocked."""

import os


def fail_calls_on(monkeypatch, name, path, error_number):
    """Make ``os.<name>(fd, ...)`` raise OSError(error_number) for descriptors of ``path``; returns a switch.

    Call the returned ``heal()`` to let the calls through again (the disk works again).
    """
    real = getattr(os, name)
    target = os.path.realpath(path)
    state = {"failing": True}

    def call(descriptor, *args):
        if state["failing"] and os.path.realpath(f"/proc/self/fd/{descriptor}") == target:
            raise OSError(error_number, os.strerror(error_number))
        return real(descriptor, *args)

    monkeypatch.setattr(os, name, call)
    return lambda: state.update(failing=False)
