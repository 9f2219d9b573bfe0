"""glibc's malloc kept from hoarding what a worker frees.

glibc gives each thread that allocates an arena of its own (up to eight a core) and keeps
what is freed there for that arena's later use. A worker's threads (the threadpool's writes,
SQLite's statements, the deliverer) each filled one: in a 6-minute soak at S its heap in use
stayed at 35-39 MB while the free memory glibc held grew from 9 to 22 MB, and the worker's
RSS with it (+17.6 MB; bench/memory_probe). With two arenas, at the same rate, the workers
grew +2.7 and +7.9 MB against +12.8 and +14.0 (bench/RESULTS.md, the tenth session).
"""

import ctypes
import os

M_ARENA_MAX = -8  # glibc's malloc.h
ARENAS = 2


def limit_malloc_arenas() -> bool:
    """At most ARENAS arenas in this process from now on, unless MALLOC_ARENA_MAX is set (glibc
    itself reads that at start). False where there is nothing to set: not glibc (musl,
    macOS) or an operator's own value."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, ARENAS))
