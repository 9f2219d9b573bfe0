"""What a worker's memory holds, written each minute: `bench/soak.py --probe-memory DIR`.

Python imports `sitecustomize` at start-up from PYTHONPATH, so with this folder on it every
process of a served app (uvicorn's workers too, which are spawned afresh) runs the thread
below, without a line of the app changed. Each minute it appends one JSON line to
`$MEMORY_PROBE_DIR/<pid>.jsonl`: the resident memory, SQLite's own allocations
(sqlite3_memory_used) and glibc's heap, in use and held free (mallinfo2). With
MEMORY_PROBE_TRACE=1 it also traces Python's allocations and lists the lines whose memory grew
most since the first minute; that slows a worker and its traces cost memory of their own, so
compare a traced run only with a traced run. RSS growing while the heap in use does not is
the allocator holding freed memory (fragmentation, one arena per thread), not a leak of ours.
"""

import ctypes
import ctypes.util
import json
import os
import threading
import time
import tracemalloc
from pathlib import Path

FRAMES = 8
EVERY_S = 60.0
START_AFTER_S = 20.0


def _sqlite_memory_used() -> int | None:
    name = ctypes.util.find_library("sqlite3")
    if name is None:
        return None
    try:
        library = ctypes.CDLL(name)  # the same instance as _sqlite3's: dlopen shares it
    except OSError:
        return None
    library.sqlite3_memory_used.restype = ctypes.c_int64
    return int(library.sqlite3_memory_used())


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                     "uordblks", "fordblks", "keepcost")
    ]  # fmt: skip


def _malloc_mb() -> dict[str, float]:
    """glibc's heap: in use by someone (Python, SQLite, C extensions) and held free."""
    info = ctypes.CDLL(None).mallinfo2
    info.restype = _MallInfo2
    got = info()
    return {
        "malloc_used_mb": round((got.uordblks + got.hblkhd) / 2**20, 1),
        "malloc_free_mb": round(got.fordblks / 2**20, 1),
    }


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _watch(out: Path, trace: bool) -> None:
    # Tracing starts once the worker has imported and served: tracing its imports made it
    # too slow to answer uvicorn's health check, which then killed it.
    time.sleep(START_AFTER_S)
    if trace:
        tracemalloc.start(FRAMES)
    first: tracemalloc.Snapshot | None = None
    started = time.monotonic()
    while True:
        time.sleep(EVERY_S)
        line: dict[str, object] = {
            "second": round(time.monotonic() - started),
            "rss_mb": round(_rss_mb(), 1),
            "sqlite_mb": round((_sqlite_memory_used() or 0) / 2**20, 1),
            **_malloc_mb(),
        }
        if trace:
            snapshot = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__)]
            )
            line["traced_mb"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 1)
            line["tracemalloc_own_mb"] = round(tracemalloc.get_tracemalloc_memory() / 2**20, 1)
            if first is None:
                first = snapshot
            else:
                line["grown"] = [
                    {
                        "kib": round(stat.size_diff / 1024),
                        "count": stat.count_diff,
                        "where": [f"{f.filename}:{f.lineno}" for f in stat.traceback[-FRAMES:]],
                    }
                    for stat in snapshot.compare_to(first, "traceback")[:12]
                ]
        with out.open("a") as file:
            file.write(json.dumps(line) + "\n")


_folder = os.environ.get("MEMORY_PROBE_DIR")
if _folder:
    Path(_folder).mkdir(parents=True, exist_ok=True)
    _out = Path(_folder) / f"{os.getpid()}.jsonl"
    _trace = os.environ.get("MEMORY_PROBE_TRACE") == "1"
    threading.Thread(target=_watch, args=(_out, _trace), daemon=True, name="memory-probe").start()
