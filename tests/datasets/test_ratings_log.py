import errno
import json
import os
import subprocess
import sys
import threading

import pytest

from recommender.datasets.ratings_log import HEADER, LogWriteError, RatingsLog
from tests.support.disk_faults import fail_calls_on


def rows(table):
    return list(zip(*(table.column(c).to_pylist() for c in ("userId", "movieId", "rating", "timestamp"))))


def test_appended_ratings_are_read_back_in_order(tmp_path):
    ratings_log = RatingsLog(tmp_path / "state" / "ratings-log.csv")
    assert ratings_log.open().num_rows == 0
    ratings_log.append(7, [(1, 4.5), (2, 3.0)], 1000)
    ratings_log.append(8, [(1, 0.5)], 1001)
    assert ratings_log.records == 3
    ratings_log.close()
    assert (tmp_path / "state" / "ratings-log.csv").read_bytes().startswith(HEADER)
    reopened = RatingsLog(tmp_path / "state" / "ratings-log.csv")
    assert rows(reopened.open()) == [(7, 1, 4.5, 1000), (7, 2, 3.0, 1000), (8, 1, 0.5, 1001)]
    assert reopened.records == 3


def test_a_torn_last_line_is_cut_and_the_complete_lines_kept(tmp_path, caplog):
    path = tmp_path / "ratings-log.csv"
    path.write_bytes(HEADER + b"7,1,4.5,1000\n7,2,3.0,1000\n8,1,0.")
    ratings_log = RatingsLog(path)
    assert rows(ratings_log.open()) == [(7, 1, 4.5, 1000), (7, 2, 3.0, 1000)]
    assert "torn last line" in caplog.text
    ratings_log.append(9, [(3, 5.0)], 1002)
    assert path.read_bytes().endswith(b"7,2,3.0,1000\n9,3,5.0,1002\n")


def test_a_torn_header_and_a_damaged_line_never_stop_start_up(tmp_path):
    torn_header = tmp_path / "a.csv"
    torn_header.write_bytes(b"userId,mov")
    assert RatingsLog(torn_header).open().num_rows == 0
    assert torn_header.read_bytes() == HEADER
    damaged = tmp_path / "b.csv"
    damaged.write_bytes(HEADER + b"7,1,4.5,1000\n\x00\x00,x,y,z\n8,2,5.0,1001\n")
    assert rows(RatingsLog(damaged).open()) == [(7, 1, 4.5, 1000), (8, 2, 5.0, 1001)]


def test_read_stops_at_a_snapshot_size(tmp_path):
    ratings_log = RatingsLog(tmp_path / "ratings-log.csv")
    ratings_log.open()
    ratings_log.append(7, [(1, 4.5)], 1000)
    size = ratings_log.size
    ratings_log.append(8, [(2, 3.5)], 1001)
    assert rows(ratings_log.read(size)) == [(7, 1, 4.5, 1000)]
    assert ratings_log.read().num_rows == 2


def test_concurrent_writers_are_all_synced_and_none_lost(tmp_path, monkeypatch):
    ratings_log = RatingsLog(tmp_path / "ratings-log.csv")
    ratings_log.open()
    synced_sizes = []  # the file's size at each fsync: what that fsync made durable
    real_fsync = os.fsync

    def recording_fsync(fd):
        real_fsync(fd)
        synced_sizes.append(os.fstat(fd).st_size)

    monkeypatch.setattr(os, "fsync", recording_fsync)

    def post(user_id):
        for movie_id in range(50):
            ratings_log.append(user_id, [(movie_id, 3.5)], 1000)

    threads = [threading.Thread(target=post, args=(user_id,)) for user_id in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert max(synced_sizes) == os.path.getsize(tmp_path / "ratings-log.csv")  # the last append is on disk too
    table = RatingsLog(tmp_path / "ratings-log.csv").open()
    assert sorted(zip(table.column("userId").to_pylist(), table.column("movieId").to_pylist())) == [
        (u, m) for u in range(8) for m in range(50)
    ]


def test_a_failed_fsync_cuts_every_unsynced_write_off_and_writes_resume(tmp_path, monkeypatch):
    path = tmp_path / "ratings-log.csv"
    ratings_log = RatingsLog(path)
    ratings_log.open()
    ratings_log.append(7, [(1, 4.5)], 1000)
    good = path.read_bytes()
    first = ratings_log.write(8, [(2, 3.0)], 1001)
    second = ratings_log.write(9, [(3, 2.0)], 1002)  # waits on the same fsync
    heal = fail_calls_on(monkeypatch, "fsync", path, errno.EIO)
    for ticket in (first, second):
        with pytest.raises(LogWriteError) as failed:
            ratings_log.sync(ticket)
        assert not failed.value.disk_full and not ratings_log.durable(ticket)
    assert path.read_bytes() == good  # nothing unacknowledged stays in the file
    assert "fsynced" in ratings_log.failure and ratings_log.records == 1
    heal()
    ratings_log.append(8, [(2, 3.0)], 1003)
    assert ratings_log.failure is None
    ratings_log.close()
    assert rows(RatingsLog(path).open()) == [(7, 1, 4.5, 1000), (8, 2, 3.0, 1003)]


def test_a_write_failing_with_a_full_disk_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "ratings-log.csv"
    ratings_log = RatingsLog(path)
    ratings_log.open()
    heal = fail_calls_on(monkeypatch, "write", path, errno.ENOSPC)
    with pytest.raises(LogWriteError) as failed:
        ratings_log.append(7, [(1, 4.5)], 1000)
    assert failed.value.disk_full and "written" in str(failed.value)
    heal()
    ratings_log.append(7, [(1, 4.0)], 1001)
    assert path.read_bytes() == HEADER + b"7,1,4.0,1001\n"


FILE_SIZE_LIMIT = """
import json, resource, signal, sys
from recommender.datasets.ratings_log import LogWriteError, RatingsLog
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
path = sys.argv[1]
ratings_log = RatingsLog(path)
ratings_log.open()
ratings_log.append(7, [(1, 4.5)], 1000)
size = ratings_log.size
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (size + 20, hard))  # room for half of the next batch
try:
    ratings_log.append(8, [(1, 4.0), (2, 3.5), (3, 3.0)], 1001)
    failed = None
except LogWriteError as error:
    failed = {"disk_full": error.disk_full, "reason": error.reason}
after_failure = open(path, "rb").read().decode()
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
ratings_log.append(8, [(1, 4.0), (2, 3.5), (3, 3.0)], 1002)
print(json.dumps({"failed": failed, "after_failure": after_failure, "records": ratings_log.records}))
"""


def test_a_file_size_limit_mid_batch_leaves_no_torn_record(tmp_path, repo_root):
    path = tmp_path / "ratings-log.csv"
    result = subprocess.run(
        [sys.executable, "-c", FILE_SIZE_LIMIT, str(path)], cwd=repo_root, capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=repo_root), timeout=60, check=True,
    )
    report = json.loads(result.stdout)
    assert report["failed"]["disk_full"] and "too large" in report["failed"]["reason"]
    assert report["after_failure"] == HEADER.decode() + "7,1,4.5,1000\n"
    assert report["records"] == 4
    assert rows(RatingsLog(path).open())[1:] == [(8, 1, 4.0, 1002), (8, 2, 3.5, 1002), (8, 3, 3.0, 1002)]


def test_one_fsync_covers_every_batch_written_before_it_and_reports_them(tmp_path):
    ratings_log = RatingsLog(tmp_path / "ratings-log.csv")
    ratings_log.open()
    fsyncs, commits = [], []
    ratings_log.on_fsync = lambda writes, seconds: fsyncs.append((writes, seconds))
    ratings_log.on_commit = commits.append
    tickets = [ratings_log.write(user, [(1, 4.0), (2, 3.0)], 1000) for user in (7, 8, 9)]
    ratings_log.sync(tickets[-1])  # the last writer's fsync makes the two before it durable too
    assert all(ratings_log.durable(ticket) for ticket in tickets)
    for ticket in tickets[:2]:
        ratings_log.sync(ticket)  # already durable: no fsync of their own
    ratings_log.append(10, [(3, 5.0)], 1001)
    assert [writes for writes, _ in fsyncs] == [3, 1] and all(seconds >= 0 for _, seconds in fsyncs)
    assert len(commits) == 4


KILLED_BEFORE_FSYNC = """
import json, os, sys, threading, time
import numpy as np
from recommender.datasets.ratings_log import RatingsLog
from recommender.model.live_model import LiveModel
from tests.support.synthetic_model import synthetic_model

ratings_log = RatingsLog(sys.argv[1])
live = LiveModel(ratings_log)
live.replay(ratings_log.open(), covered=0)
live.swap_model(synthetic_model(movies=30))
WAITING = range(101, 105)  # users whose batch is written, then caught before its fsync


def stuck_fsync(fd):
    while ratings_log.records < 3 * (3 + len(WAITING)):  # every waiting writer has written
        time.sleep(0.01)
    served = {user: len(live.user_ratings(user)) for user in WAITING}
    print(json.dumps({"written": ratings_log.size, "served": served}), flush=True)
    time.sleep(3600)  # killed here: between the batches' write and their fsync


for user in (1, 2, 3):
    live.add_ratings(user, [(1, 4.0), (2, 3.5), (3, 5.0)])
    print(json.dumps({"acknowledged": user}), flush=True)
os.fsync = stuck_fsync
for user in WAITING:
    threading.Thread(target=lambda u: (live.add_ratings(u, [(4, 4.0), (5, 2.0), (6, 1.0)]),
                                       print(json.dumps({"acknowledged": u}), flush=True)), args=(user,)).start()
"""


def test_a_kill_between_a_batchs_write_and_its_fsync_loses_nothing_acknowledged(tmp_path, repo_root):
    path = tmp_path / "ratings-log.csv"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_BEFORE_FSYNC, str(path)], cwd=repo_root, stdout=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=repo_root),
    )
    try:
        reports = [json.loads(child.stdout.readline()) for _ in range(4)]
    finally:
        child.kill()  # SIGKILL, with the waiting batches in the file but not fsynced
        child.wait(timeout=60)
    acknowledged = [report["acknowledged"] for report in reports if "acknowledged" in report]
    stuck = reports[-1]
    assert acknowledged == [1, 2, 3]  # none of the waiting batches was acknowledged ...
    assert stuck["served"] == {"101": 0, "102": 0, "103": 0, "104": 0}  # ... nor served before its fsync
    assert stuck["written"] == os.path.getsize(path)  # they were written: the kill came before the fsync
    logged = [(user, movie, rating) for user, movie, rating, _ in rows(RatingsLog(path).open())]
    # Every acknowledged rating is there after the kill (the unacknowledged ones may be too: nothing is owed).
    assert [r for r in logged if r[0] in (1, 2, 3)] == [
        (user, movie, rating) for user in (1, 2, 3) for movie, rating in [(1, 4.0), (2, 3.5), (3, 5.0)]
    ]
