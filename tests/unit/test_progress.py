"""The progress reporter: figures reach the cache while the work sits in one long call."""

import time

from django.core.cache import cache

from importer import progress

RUN_ID = 987_654  # Only the cache is involved: no run needs to exist.


def test_the_latest_figure_is_written_again_while_the_work_sits_in_one_long_call():
    with progress.Reporter(RUN_ID, interval=0.05) as report:
        report("inserting", 3, 10)
        cache.delete(progress._key(RUN_ID))  # Gone from the cache (evicted, say).
        time.sleep(0.3)  # One long call that cannot report, such as a large SQL statement.
        repeated = progress.read(RUN_ID)
    assert repeated == {"stage": "inserting", "done": 3, "total": 10, "percent": 30}
    assert progress.read(RUN_ID) is None  # Leaving the block clears it: the work is over.


def test_the_figure_repeated_is_the_latest_reported_even_if_it_was_not_written():
    with progress.Reporter(RUN_ID, interval=0.2) as report:
        report("checking", 1, 10)
        report("checking", 2, 10)  # Within the interval of the last write: not written yet.
        cache.delete(progress._key(RUN_ID))
        time.sleep(0.6)
        repeated = progress.read(RUN_ID)
    assert repeated == {"stage": "checking", "done": 2, "total": 10, "percent": 20}
