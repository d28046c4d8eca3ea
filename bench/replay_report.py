"""bench/replay.py's figures: prequential scores, the timeline per window, its plot and the summary."""

import csv
import math
from datetime import datetime, timezone

TIMELINE_FIELDS = [
    "window_start", "batches", "ratings_sent", "ratings_acknowledged", "failures", "post_p50_ms", "post_p99_ms",
    "scored", "hits_at_10", "ndcg_at_10", "scored_new", "hits_at_10_new", "ndcg_at_10_new",
    "scored_returning", "hits_at_10_returning", "ndcg_at_10_returning",
    "model_version", "retrains", "drift_score", "wall_seconds",
]


def score_top(shown, rated, k=10):
    """Prequential hits@k and NDCG@k of a shown list against the movies the user then rated.

    Parameters
    ----------
    shown : sequence of int
        The movie ids the service would have shown, best first.
    rated : iterable of int
        The movies the user went on to rate (each one relevant, whatever the rating).
    k : int

    Returns
    -------
    (float, float)
        Hits: 1 if any rated movie is in the top ``k``, else 0. NDCG: the discounted gain
        of the rated movies' positions over the best possible (all of them first).
    """
    relevant = set(rated)
    if not relevant:
        raise ValueError("nothing rated to score against")
    gains = [1.0 / math.log2(position + 2) for position, movie in enumerate(shown[:k]) if movie in relevant]
    ideal = sum(1.0 / math.log2(position + 2) for position in range(min(len(relevant), k)))
    return (1.0 if gains else 0.0), sum(gains) / ideal


def percentile(samples, fraction):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def quality(results, kind=None):
    """(scored batches, mean hits@10, mean NDCG@10) of ``results``, of one user kind if given."""
    scored = [r for r in results if r.hits is not None and (kind is None or r.kind == kind)]
    return len(scored), mean([r.hits for r in scored]), mean([r.ndcg for r in scored])


def window_start(seconds, window):
    return datetime.fromtimestamp(seconds // window * window, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def timeline_rows(results, window, samples, started_at, retrains_at_start):
    """One row per window of the data's time (``TIMELINE_FIELDS``), oldest first.

    ``samples`` are ``(monotonic time, retrains, version, drift score)`` of the service's
    status; a window gets the last one taken by the time its last batch was answered.
    """
    windows = {}
    for result in results:
        windows.setdefault(result.batch.time // window, []).append(result)
    rows = []
    for key in sorted(windows):
        members = windows[key]
        closed_at = max(r.finished_at for r in members)
        sample = status_at(samples, closed_at)
        posts = [r.post_seconds * 1000 for r in members if r.post_seconds is not None]
        last = max(members, key=lambda r: r.finished_at)
        row = {
            "window_start": window_start(members[0].batch.time, window),
            "batches": len(members),
            "ratings_sent": sum(len(r.batch.movie_ids) for r in members),
            "ratings_acknowledged": sum(r.acknowledged for r in members),
            "failures": sum(r.error is not None for r in members),
            "post_p50_ms": round(percentile(posts, 0.5), 2) if posts else None,
            "post_p99_ms": round(percentile(posts, 0.99), 2) if posts else None,
            "model_version": last.model_version or (sample and sample[2]) or "",
            "retrains": "" if sample is None or sample[1] is None else sample[1] - retrains_at_start,
            "drift_score": "" if sample is None or sample[3] is None else round(sample[3], 4),
            "wall_seconds": round(closed_at - started_at, 2),
        }
        for suffix, kind in (("", None), ("_new", "new"), ("_returning", "returning")):
            scored, hits, ndcg = quality(members, kind)
            row.update({f"scored{suffix}": scored, f"hits_at_10{suffix}": rounded(hits),
                        f"ndcg_at_10{suffix}": rounded(ndcg)})
        rows.append({name: "" if value is None else value for name, value in row.items()})
    return rows


def rounded(value):
    return None if value is None else round(value, 4)


def status_at(samples, moment):
    taken = [sample for sample in samples if sample[0] <= moment]
    return taken[-1] if taken else (samples[0] if samples else None)


def write_timeline(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=TIMELINE_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def version_changes(results):
    """For each model version swapped in during the run: (old, new, quality under old, quality under new).

    Batches are taken in the order they were answered; a batch belongs to the version
    that answered its top-10 read. Quality is ``quality()``'s (scored, hits, NDCG).
    """
    ordered = [r for r in sorted(results, key=lambda r: r.finished_at) if r.hits is not None and r.model_version]
    segments = []
    for result in ordered:
        if segments and segments[-1][0] == result.model_version:
            segments[-1][1].append(result)
        else:
            segments.append((result.model_version, [result]))
    return [
        (old, new, quality(before), quality(after))
        for (old, before), (new, after) in zip(segments, segments[1:])
    ]


def summary_lines(results, retrains, missing, checked, retried):
    """The run's summary: acknowledged against sent, failures, retrains and quality around each swap."""
    sent = sum(len(r.batch.movie_ids) for r in results)
    acknowledged = sum(r.acknowledged for r in results)
    failures = [r for r in results if r.error is not None]
    verdict = "=" if acknowledged == sent else "!="
    lines = [
        f"sent {sent} ratings in {len(results)} POSTs; acknowledged {acknowledged} {verdict} sent; "
        f"failures {len(failures)}; requests retried {retried}",
        f"present afterwards: {checked - len(missing)} of {checked} sent ratings"
        + ("" if not missing else f" (missing e.g. {missing[:3]})"),
    ]
    for kind in (None, "new", "returning"):
        scored, hits, ndcg = quality(results, kind)
        if scored:
            lines.append(f"prequential {kind or 'all'}: {scored} reads, hits@10 {hits:.4f}, NDCG@10 {ndcg:.4f}")
    lines.append(f"retrains seen: {'unknown' if retrains is None else retrains}")
    for old, new, before, after in version_changes(results):
        change = "rose" if after[2] > before[2] else "did not rise"
        lines.append(f"  {old} -> {new}: NDCG@10 {change}, {before[2]:.4f} over {before[0]} reads -> "
                     f"{after[2]:.4f} over {after[0]} (hits@10 {before[1]:.4f} -> {after[1]:.4f})")
    for failure in failures[:5]:
        lines.append(f"  failed: user {failure.batch.user_id}: {failure.error}")
    return lines


def plot_timeline(path, rows, title):
    """Three panels over the windows: ratings and POST p99, prequential quality, drift."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [datetime.strptime(row["window_start"], "%Y-%m-%dT%H:%M:%SZ") for row in rows]
    figure, (volume, score, drift) = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    volume.bar(x, [row["ratings_sent"] for row in rows], width=width_of(x), color="#9ecae1", label="ratings sent")
    volume.set_ylabel("ratings per window")
    latency = volume.twinx()
    latency.plot(x, [number(row["post_p99_ms"]) for row in rows], color="#d62728", marker=".", label="POST p99")
    latency.set_ylabel("POST p99 (ms)")
    volume.legend(loc="upper left")
    latency.legend(loc="upper right")
    for name, style in (("ndcg_at_10", "-"), ("hits_at_10", "--"), ("ndcg_at_10_new", ":"), ("ndcg_at_10_returning", "-.")):
        score.plot(x, [number(row[name]) for row in rows], style, marker=".", label=name.replace("_at_10", "@10"))
    score.set_ylabel("prequential, per window")
    score.set_ylim(0, 1)
    score.legend(loc="upper left", fontsize=8)
    swaps = [x[i] for i in range(1, len(rows)) if rows[i]["model_version"] != rows[i - 1]["model_version"]]
    for moment in swaps:
        for panel in (volume, score, drift):
            panel.axvline(moment, color="grey", linestyle="--", linewidth=0.8)
    drift.plot(x, [number(row["drift_score"]) for row in rows], color="#2ca02c", marker=".")
    drift.set_ylabel("/drift score")
    if all(row["drift_score"] == "" for row in rows):
        drift.text(0.5, 0.5, "no /drift route on this service", ha="center", transform=drift.transAxes)
    drift.set_xlabel("window of the replayed ratings' time (dashed: a new model version serving)")
    figure.suptitle(title)
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def number(value):
    return float("nan") if value in ("", None) else float(value)


def width_of(x):
    if len(x) < 2:
        return 1.0
    return min((b - a) for a, b in zip(x, x[1:])).total_seconds() / 86_400 * 0.8
