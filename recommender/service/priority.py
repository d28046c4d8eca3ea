"""The JVM's OS priority while it retrains: serving is Python, training the JVM's threads.

On Linux ``setpriority(PRIO_PROCESS, id)`` sets one thread's niceness, so every thread
of the JVM (``/proc/PID/task``) is set, and threads it starts later inherit it from the
thread starting them. Under ``spark-submit`` the JVM starts this Python process, so it is
the parent; elsewhere (tests, ``python ...``) py4j started the JVM as a child.
"""

import contextlib
import logging
import os
import threading

log = logging.getLogger(__name__)


def jvm_pid(spark_context):
    """The pid of the JVM behind ``spark_context``, or None when it cannot be told."""
    gateway_process = getattr(getattr(spark_context, "_gateway", None), "proc", None)
    if gateway_process is not None:
        return gateway_process.pid
    parent = os.getppid()
    return parent if process_name(parent) == "java" else None


def process_name(pid):
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8") as comm:
            return comm.read().strip()
    except OSError:
        return None


def thread_ids(pid):
    try:
        return [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []


def niceness_of(tid, default=0):
    try:
        return os.getpriority(os.PRIO_PROCESS, tid)
    except (ProcessLookupError, PermissionError):
        return default


def set_thread_niceness(tid, niceness):
    try:
        os.setpriority(os.PRIO_PROCESS, tid, niceness)
        return True
    except (ProcessLookupError, PermissionError):  # gone, or raising priority back without privilege
        return False


@contextlib.contextmanager
def lowered(pid, niceness):
    """Run the block with ``pid``'s threads and the calling thread at ``niceness``, then restore them.

    ``niceness`` 0 or no pid: nothing changes. The calling thread is the one that copies and
    measures the model in Python, next to the threads that serve. Threads started meanwhile
    get the process's niceness from before. Restoring a lower niceness needs privilege
    (CAP_SYS_NICE); without it the JVM stays lowered, which only slows the next start-up.
    """
    if not niceness or pid is None:
        yield
        return
    threads = {tid: niceness_of(tid) for tid in [*thread_ids(pid), threading.get_native_id()]}
    usual = niceness_of(pid)
    lowered_threads = sum(set_thread_niceness(tid, max(niceness, before)) for tid, before in threads.items())
    log.info("retraining at niceness %d: %d threads lowered", niceness, lowered_threads)
    try:
        yield
    finally:
        for tid in [*thread_ids(pid), threading.get_native_id()]:
            set_thread_niceness(tid, threads.get(tid, usual))
        log.info("retrain over: the JVM's threads back at their niceness")
