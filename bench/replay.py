"""Replay the future: stream held-back ratings into a running service and measure it online.

    spark-submit etl.py futures --dataset data/ml-latest-small --last 0.1 --output futures.csv --remaining past
    spark-submit server.py --dataset past ...
    python bench/replay.py --url http://127.0.0.1:5432 --input futures.csv --speed 0 \\
        --timeline bench/results/replay.csv --plot bench/results/replay.png

The ratings (a CSV ``userId,movieId,rating,timestamp`` sorted by time) are grouped into
POSTs: each user's ratings of one day (``--batch-by user``) or of one ``--window``
(``--batch-by time``), sent in time order at the data's pace times ``--speed`` (0: as fast
as the service takes them), over ``--concurrency`` connections; a user's POSTs always go
over the same connection, so they arrive in order. A 503 is retried after its
``Retry-After``.

Before each POST the user's top-10 is read and scored against the movies the user is about
to rate (prequential evaluation: what the service would have shown at that moment), as
hits@10 and NDCG@10, by user kind: ``new`` (the service had nothing personal for them) or
``returning``.

Outputs: a timeline per ``--window`` of the data's time (ratings sent, POST p50/p99,
hits@10, NDCG@10, serving model version, retrains seen, ``/drift`` score when the service
has that route), its plot, and a summary on stdout: acknowledged against sent, failures,
retrains and whether quality rose after each one; then every sent rating is looked up
(``GET /<user>/ratings``) and the count present reported. Exit code 0 when every rating
was acknowledged and is present, 1 otherwise.
"""

import argparse
import csv
import logging
import queue
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from replay_client import Batch, ServiceClient, missing_ratings
from replay_report import plot_timeline, summary_lines, timeline_rows, write_timeline

log = logging.getLogger("replay")

DAY = 86_400
QUEUE_DEPTH = 32  # batches waiting per connection: enough to keep it busy, bounded to pace the reading


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the running service, e.g. http://127.0.0.1:5432")
    parser.add_argument("--input", required=True, metavar="FILE", help="ratings CSV sorted by time (etl.py futures)")
    parser.add_argument("--speed", type=float, default=0.0,
                        help="times real time (e.g. 86400: a day per second); 0 (default): as fast as the service takes them")
    parser.add_argument("--batch-by", choices=("user", "time"), default="user",
                        help="one POST per user and day (default), or per user and --window")
    parser.add_argument("--window", type=float, default=7 * DAY,
                        help="seconds of the data's time per timeline row (and per POST with --batch-by time); default a week")
    parser.add_argument("--api-key", help="sent as 'Authorization: Bearer KEY'")
    parser.add_argument("--concurrency", type=int, default=4, help="connections posting at once (default 4)")
    parser.add_argument("--max-lines", type=int, default=1000, help="most ratings per POST (the service's --max-lines)")
    parser.add_argument("--min-ratings", type=int, help="min_ratings of the top-10 reads (default: the service's)")
    parser.add_argument("--retries", type=int, default=20, help="attempts after a 503 or a dropped connection")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between reads of /health and /drift")
    parser.add_argument("--timeline", metavar="CSV", help="write the timeline here")
    parser.add_argument("--plot", metavar="PNG", help="plot the timeline here")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress line on stderr")
    args = parser.parse_args(argv)
    for name in ("concurrency", "max_lines"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.speed < 0 or args.window <= 0:
        parser.error("--speed must be >= 0 and --window > 0")
    return args


def read_batches(path, batch_by="user", window=7 * DAY, max_lines=1000):
    """The POSTs of a time-sorted ratings CSV, in the time order of their first rating.

    A user's ratings of one day (``batch_by="user"``) or one ``window`` (``"time"``) make
    one batch, split into ``max_lines`` pieces.
    """
    bucket = DAY if batch_by == "user" else window
    groups = {}  # (user, bucket) -> [first time, movies, ratings]; dicts keep first-seen order
    try:
        with open(path, encoding="utf-8", newline="") as file:
            reader = csv.DictReader(file)
            for line, row in enumerate(reader, start=2):
                try:
                    user, movie = int(row["userId"]), int(row["movieId"])
                    rating, moment = float(row["rating"]), int(float(row["timestamp"]))
                except (KeyError, TypeError, ValueError):
                    raise ValueError(f"{path}:{line}: not userId,movieId,rating,timestamp: {row}") from None
                group = groups.setdefault((user, moment // bucket), [moment, [], []])
                group[1].append(movie)
                group[2].append(rating)
    except OSError as error:
        raise ValueError(f"{path}: {error.strerror}") from None
    batches = []
    for (user, _), (moment, movies, ratings) in groups.items():
        for start in range(0, len(movies), max_lines):
            batches.append(Batch(user, moment, tuple(movies[start:start + max_lines]),
                                 tuple(ratings[start:start + max_lines])))
    batches.sort(key=lambda batch: batch.time)  # stable: a user's pieces stay in order
    return batches


class Run:
    """One replay: a feeder pacing batches onto per-connection queues, posters, and a status monitor."""

    def __init__(self, client, args):
        self.client = client
        self.args = args
        self.results = []
        self.samples = []  # (monotonic, retrains, version, drift score)
        self.drift_route = True  # until /drift answers 404
        self.started = None
        self.retrains_at_start = 0
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.queues = [queue.Queue(QUEUE_DEPTH) for _ in range(args.concurrency)]

    def replay(self, batches):
        self.started = time.monotonic()
        self.sample()
        self.retrains_at_start = self.samples[0][1] or 0
        threads = [threading.Thread(target=self.post, args=(q,), daemon=True) for q in self.queues]
        threads.append(threading.Thread(target=self.monitor, daemon=True))
        if self.args.progress:
            threads.append(threading.Thread(target=self.progress, args=(batches,), daemon=True))
        for thread in threads:
            thread.start()
        self.feed(batches)
        for poster in threads[:len(self.queues)]:
            poster.join()
        self.done.set()
        self.sample()
        for thread in threads[len(self.queues):]:
            thread.join()
        return sorted(self.results, key=lambda result: result.finished_at)

    def feed(self, batches):
        first = batches[0].time if batches else 0
        for batch in batches:
            if self.args.speed > 0:
                delay = self.started + (batch.time - first) / self.args.speed - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            self.queues[batch.user_id % len(self.queues)].put(batch)  # one user, one connection: in order
        for waiting in self.queues:
            waiting.put(None)

    def post(self, waiting):
        with self.client.session() as session:
            while (batch := waiting.get()) is not None:
                result = self.client.send(session, batch)
                with self.lock:
                    self.results.append(result)

    def sample(self):
        with self.client.session() as session:
            retrains, version = self.client.status(session)
            drift = None
            if self.drift_route:
                self.drift_route, drift = self.client.drift_score(session)
        self.samples.append((time.monotonic(), retrains, version, drift))

    def monitor(self):
        while not self.done.wait(self.args.poll):
            self.sample()

    def progress(self, batches):
        total = sum(len(batch.movie_ids) for batch in batches)
        while not self.done.wait(0.5):
            self.print_progress(len(batches), total)
        self.print_progress(len(batches), total)
        sys.stderr.write("\n")

    def print_progress(self, batch_total, rating_total):
        with self.lock:
            results = list(self.results)
        sent = sum(len(r.batch.movie_ids) for r in results)
        failed = sum(r.error is not None for r in results)
        retrains = (self.samples[-1][1] or 0) - self.retrains_at_start
        sys.stderr.write(
            f"\r{len(results)}/{batch_total} POSTs, {sent}/{rating_total} ratings "
            f"({100 * sent / max(rating_total, 1):.0f}%), {failed} failed, {retrains} retrains, "
            f"{time.monotonic() - self.started:.0f}s "
        )
        sys.stderr.flush()


def sent_ratings(results):
    """user -> {movie: the last rating acknowledged}: what the service must hold."""
    sent = {}
    for result in results:
        if result.error is None:
            sent.setdefault(result.batch.user_id, {}).update(zip(result.batch.movie_ids, result.batch.ratings))
    return sent


def verify(client, results, concurrency):
    """(missing ratings, how many were checked) of every acknowledged rating, read back per user."""
    sent = sent_ratings(results)
    users = list(sent)

    def check(chunk):
        with client.session() as session:
            return missing_ratings(client, session, {user: sent[user] for user in chunk})

    chunks = [users[i::concurrency] for i in range(concurrency)]
    with ThreadPoolExecutor(concurrency) as pool:
        missing = [item for part in pool.map(check, chunks) for item in part]
    return missing, sum(len(movies) for movies in sent.values())


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        batches = read_batches(args.input, args.batch_by, args.window, args.max_lines)
    except ValueError as error:
        print(f"replay.py: error: {error}", file=sys.stderr)
        return 2
    client = ServiceClient(args.url, args.api_key, args.retries, min_ratings=args.min_ratings)
    log.info("%d POSTs of %d ratings from %s", len(batches), sum(len(b.movie_ids) for b in batches), args.input)
    run = Run(client, args)
    if run_unreachable(client):
        print(f"replay.py: error: no service answers /health at {args.url}", file=sys.stderr)
        return 2
    results = run.replay(batches)
    missing, checked = verify(client, results, args.concurrency)
    retrains = None if run.samples[-1][1] is None else run.samples[-1][1] - run.retrains_at_start
    rows = timeline_rows(results, args.window, run.samples, run.started, run.retrains_at_start)
    if args.timeline:
        write_timeline(args.timeline, rows)
    if args.plot:
        plot_timeline(args.plot, rows, f"replay of {args.input} (speed {args.speed:g}, batch by {args.batch_by})")
    print("\n".join(summary_lines(results, retrains, missing, checked, client.retried)))
    acknowledged = sum(r.acknowledged for r in results)
    return 0 if acknowledged == sum(len(r.batch.movie_ids) for r in results) and not missing else 1


def run_unreachable(client):
    with client.session() as session:
        return client.status(session) == (None, None)


if __name__ == "__main__":
    sys.exit(main())
