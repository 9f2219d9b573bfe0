"""A partner's webhook receiver for the Battery Intelligence API, with the standard library only.

    python examples/webhook_receiver.py --secret whsec_... --port 9000 --store received.db

Each delivery is a POST of `{"webhook_id", "items": [changes], "next_after"}`. It is taken
only when its `Battery-Intel-Signature` (`t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<body>" keyed with the secret>`) verifies, compared in constant time, and its `t` is
at most five minutes old (a captured request cannot be replayed later). A delivery that
comes again (the same `Battery-Intel-Delivery` id: the API retries until it gets a 2xx) is
acknowledged without being applied twice. Applying here means appending the changes to the
store; a real partner would write them into its own system in the same transaction as the
delivery id, as this does.
"""

import argparse
import hashlib
import hmac
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOLERANCE_S = 300


def verify(
    secret: str, header: str, body: bytes, now: float, tolerance: float = TOLERANCE_S
) -> bool:
    """Whether `header` signs `body` with `secret`, at a time within `tolerance` of `now`."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        sent_at = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - sent_at) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{sent_at}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), fields.get("v1", ""))


class Store:
    """The changes received, and the deliveries already applied (SQLite, so a restart keeps
    both: ':memory:' for a throwaway)."""

    def __init__(self, path: str = ":memory:") -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("CREATE TABLE IF NOT EXISTS deliveries (id TEXT PRIMARY KEY)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS changes (seq INTEGER, delivery TEXT, change TEXT)"
        )

    def apply(self, delivery: str, items: list[dict[str, Any]]) -> bool:
        """Apply a delivery's changes once; False when it was applied before."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("INSERT INTO deliveries (id) VALUES (?)", (delivery,))
            except sqlite3.IntegrityError:
                self._db.execute("ROLLBACK")
                return False
            self._db.executemany(
                "INSERT INTO changes (seq, delivery, change) VALUES (?, ?, ?)",
                [(item["seq"], delivery, json.dumps(item)) for item in items],
            )
            self._db.execute("COMMIT")
            return True

    def changes(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT change FROM changes ORDER BY rowid").fetchall()
        return [json.loads(row[0]) for row in rows]


def handler(secret: str, store: Store, refuse: Callable[[], int | None] = lambda: None) -> type:
    """The request handler; `refuse` may answer a status instead (to try retries)."""

    class Receive(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if (status := refuse()) is not None:
                return self._answer(status)
            signature = self.headers.get("Battery-Intel-Signature", "")
            delivery = self.headers.get("Battery-Intel-Delivery", "")
            if not delivery or not verify(secret, signature, body, time.time()):
                return self._answer(401)  # no retry will fix this: a wrong secret or a forgery
            store.apply(delivery, json.loads(body)["items"])
            return self._answer(204)  # a repeat is acknowledged too, applied once

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            return  # quiet; a real receiver would log through its own logging

    return Receive


def serve(secret: str, host: str, port: int, store: Store, **options: Any) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), handler(secret, store, **options))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--secret", required=True, help="The webhook's secret (whsec_...).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--store", default="received.db", help="SQLite file of what came.")
    opts = parser.parse_args()
    server = serve(opts.secret, opts.host, opts.port, Store(opts.store))
    print(f"receiving on http://{opts.host}:{opts.port}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
