"""Python's cycle collector run less often in a serving process.

At Python's default threshold a young collection starts every 700 new container objects.
A `/batch` of 1000 PUTs holds some 3000 ORM objects until its commit, and each young
collection walks those that survived (and the older collections behind them, in turn):
in process at S on SQLite, 2,835 and 3,033 records/s against 3,566 and 3,591 with a young
threshold of 10,000 (higher ones gained no more); over HTTP, 2,115 against 2,904, with the
reads unchanged (bench/compare.py; bench/RESULTS.md, the twelfth session).
Objects freed by their reference counts, nearly all of a request's, are freed at once as
before; only garbage in reference cycles waits longer, for up to YOUNG new containers.

Not frozen (`gc.freeze()` after startup, which spares full collections the app's own
objects): with it, GET one and the list page took 1.1-1.2× the CPU a request over HTTP.
"""

import gc

YOUNG = 10_000  # new containers that start a young collection (Python: 700)


def tune_collector() -> None:
    """Raise the young threshold; the older ones (10 and 10) stay."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG, middle, old)
