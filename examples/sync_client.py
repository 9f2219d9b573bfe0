"""A partner's sync client: keep a local SQLite mirror of the Battery Intelligence API.

It bootstraps from GET /api/v1/export, then follows GET /api/v1/changes with long-polls,
applying each change (upsert, or delete for a tombstone) and the feed position in one
local transaction, so a restart resumes exactly where it stopped.

    python examples/sync_client.py --api http://127.0.0.1:8000 --mirror mirror.db
    python examples/sync_client.py --api ... --mirror ... --until-idle 5   # stop when quiet

Only httpx and the standard library: copy it into your own system.
"""

import argparse
import json
import sqlite3
import sys
import time

import httpx

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    collection TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, record TEXT NOT NULL,
    PRIMARY KEY (collection, id)
);
CREATE TABLE IF NOT EXISTS position (id INTEGER PRIMARY KEY CHECK (id = 1), after INTEGER NOT NULL);
"""


def open_mirror(path: str) -> sqlite3.Connection:
    mirror = sqlite3.connect(path, isolation_level=None)
    mirror.executescript(SCHEMA)
    return mirror


def position(mirror: sqlite3.Connection) -> int | None:
    row = mirror.execute("SELECT after FROM position WHERE id = 1").fetchone()
    return None if row is None else int(row[0])


def upsert(mirror: sqlite3.Connection, collection: str, record: dict) -> None:
    mirror.execute(
        "INSERT INTO records (collection, id, version, record) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (collection, id) DO UPDATE SET version = excluded.version, "
        "record = excluded.record WHERE excluded.version >= records.version",
        (collection, record["id"], record["version"], json.dumps(record, sort_keys=True)),
    )


def bootstrap(api: httpx.Client, mirror: sqlite3.Connection) -> int:
    """Load every record from the export; returns the feed position it ends at."""
    mirror.execute("BEGIN")
    mirror.execute("DELETE FROM records")
    after = 0
    with api.stream("GET", "/api/v1/export", params={"format": "jsonl"}) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            item = json.loads(line)
            if "next_after" in item:
                after = int(item["next_after"])
            else:
                upsert(mirror, item["collection"], item["record"])
    mirror.execute("INSERT OR REPLACE INTO position (id, after) VALUES (1, ?)", (after,))
    mirror.execute("COMMIT")
    return after


def apply(mirror: sqlite3.Connection, changes: list[dict], next_after: int) -> None:
    mirror.execute("BEGIN")
    for change in changes:
        if change["op"] == "delete":
            mirror.execute(
                "DELETE FROM records WHERE collection = ? AND id = ?",
                (change["collection"], change["id"]),
            )
        else:
            upsert(mirror, change["collection"], change["record"])
    mirror.execute("UPDATE position SET after = ? WHERE id = 1", (next_after,))
    mirror.execute("COMMIT")


def follow(
    api: httpx.Client, mirror: sqlite3.Connection, wait: float, until_idle: float | None
) -> None:
    after = position(mirror)
    if after is None:
        after = bootstrap(api, mirror)
    quiet_since = time.monotonic()
    while True:
        try:
            response = api.get(
                "/api/v1/changes", params={"after": after, "limit": 1000, "wait": wait}
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:  # the server restarts or is down: try again shortly
            print(f"sync: {exc}; retrying", file=sys.stderr)
            time.sleep(1)
            continue
        page = response.json()
        if page["items"]:
            apply(mirror, page["items"], page["next_after"])
            quiet_since = time.monotonic()
        elif page["next_after"] != after:
            apply(mirror, [], page["next_after"])
        after = page["next_after"]
        if (
            until_idle is not None
            and not page["items"]
            and time.monotonic() - quiet_since >= until_idle
        ):
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", default="http://127.0.0.1:8000", help="the API's base URL")
    parser.add_argument("--mirror", default="mirror.db", help="the local SQLite file")
    parser.add_argument("--key", help="an API key (Authorization: Bearer), if reads need one")
    parser.add_argument("--wait", type=float, default=30, help="long-poll seconds (≤ 60)")
    parser.add_argument("--until-idle", type=float, help="exit after this many quiet seconds")
    args = parser.parse_args()
    headers = {"Authorization": f"Bearer {args.key}"} if args.key else {}
    with httpx.Client(base_url=args.api, headers=headers, timeout=args.wait + 30) as api:
        follow(api, open_mirror(args.mirror), args.wait, args.until_idle)


if __name__ == "__main__":
    main()
