"""Fixed-duration HTTP load over a list of paths: wrk when installed, else asyncio + httpx.

Both keep a fixed number of connections busy for a fixed time, cycling through the
paths, and report requests/s and the p50/p95/p99 latency in milliseconds. Only ever
127.0.0.1.
"""

import asyncio
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

WRK_SCRIPT = Path(__file__).with_name("paths.lua")


def run(base: str, paths: list[str], *, seconds: float, connections: int) -> dict[str, Any]:
    assert base.startswith("http://127.0.0.1:"), "load only ever targets this machine"
    if shutil.which("wrk"):
        return _wrk(base, paths, seconds, connections)
    return asyncio.run(_httpx(base, paths, seconds, connections))


def _wrk(base: str, paths: list[str], seconds: float, connections: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
        listing.write("\n".join(paths) + "\n")
    timeout = max(10, int(seconds * 2))
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout}s",
        "-s",
        str(WRK_SCRIPT),
        base,
        "--",
        listing.name,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    Path(listing.name).unlink()
    line = next(x for x in done.stdout.splitlines()[::-1] if x.startswith("{"))
    raw = json.loads(line)
    return {
        "driver": "wrk",
        "requests": raw["requests"],
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50"] / 1000,
        "p95_ms": raw["p95"] / 1000,
        "p99_ms": raw["p99"] / 1000,
        "errors": raw["errors"] + raw["status_errors"],
    }


async def _httpx(base: str, paths: list[str], seconds: float, connections: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        started = time.perf_counter()
        deadline = started + seconds

        async def worker(offset: int) -> None:
            nonlocal errors
            i = offset
            while time.perf_counter() < deadline:
                begun = time.perf_counter()
                response = await client.get(paths[i % len(paths)])
                latencies.append(time.perf_counter() - begun)
                errors += response.status_code >= 400
                i += 1

        await asyncio.gather(*(worker(i * 7) for i in range(connections)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "driver": "httpx",
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "errors": errors,
    }
