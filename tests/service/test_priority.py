import os
import threading

from recommender.service.priority import jvm_pid, lowered, thread_ids


def niceness(tid):
    return os.getpriority(os.PRIO_PROCESS, tid)


def test_a_retrain_runs_every_jvm_thread_and_the_caller_lowered_then_restores_them(spark):
    pid = jvm_pid(spark.sparkContext)
    with open(f"/proc/{pid}/comm", encoding="utf-8") as comm:
        assert comm.read().strip() == "java"
    caller = threading.get_native_id()
    before = {tid: niceness(tid) for tid in thread_ids(pid)}
    usual = niceness(caller)
    with lowered(pid, 7):
        threads = thread_ids(pid)
        assert len(threads) > 10 and {niceness(tid) for tid in threads} == {max(7, usual)}
        assert niceness(caller) == max(7, usual)
        assert spark.range(1000).count() == 1000  # Spark still works at the lower priority
    assert all(niceness(tid) == before[tid] for tid in thread_ids(pid) if tid in before)
    assert niceness(caller) == usual


def test_niceness_zero_changes_nothing(spark):
    pid = jvm_pid(spark.sparkContext)
    before = {tid: niceness(tid) for tid in thread_ids(pid)}
    with lowered(pid, 0):
        assert all(niceness(tid) == before[tid] for tid in thread_ids(pid) if tid in before)
