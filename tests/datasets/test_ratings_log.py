import os
import threading

from recommender.datasets.ratings_log import HEADER, RatingsLog


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
