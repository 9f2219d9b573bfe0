"""The delivery loop: in every service process, pushes each webhook's next run of the change
feed to its URL, one delivery at a time per webhook, in feed order (API.md §11).

A webhook is taken under a lease in the database (one UPDATE ... RETURNING: on Postgres its
subquery skips rows locked by another process, SKIP LOCKED; SQLite writers take turns), so
with several processes or replicas each delivery is made by one of them at a time. The
delivery's body is stored before its first attempt, so every retry sends the same bytes
under the same id; an acknowledgement moves the position only if the delivery is still the
pending one (a replay or new collections meanwhile win). Attempts run as tasks: a slow or
dead receiver holds one of them for at most 10 s, never an API request or another webhook.
Stopping (SIGTERM) abandons attempts in flight; their deliveries stay pending and are sent
again, under the same id, by whichever process comes next.
"""

import asyncio
import contextlib
import datetime as dt
import logging
import os
import random
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client import Counter, Gauge
from sqlalchemy import Engine, and_, or_, select, update

from app.columns import utcnow
from app.db import read_connection, write_session
from app.resources import changelog, feed
from app.resources.rows import dumps
from app.sync import addresses, signing
from app.sync.webhooks import FRESH, NOT_PENDING, Webhook, WebhookAttempt

log = logging.getLogger(__name__)
BATCH = 100  # changes a delivery at most
TIMEOUT_S = 10.0  # from the start of the request to the answer
LEASE = dt.timedelta(seconds=30)  # longer than an attempt can take
GIVE_UP = dt.timedelta(hours=72)  # of failed attempts, after which the webhook is disabled
FIRST_DELAY_S, MOST_DELAY_S = 1.0, 3600.0
PARALLEL = 8  # attempts under way in a process at once
IDLE_POLL_S = 1.0  # how often an idle process looks for work committed elsewhere
LAG_EVERY_S = 5.0

DELIVERED = Counter(
    "webhook_deliveries_total", "Webhook delivery attempts by outcome.", ["outcome"]
)
LAG = Gauge(
    "webhook_lag", "Changes not yet acknowledged: head seq - position.", ["webhook_id"],
    multiprocess_mode="mostrecent",
)  # fmt: skip
TABLE: Any = Webhook.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Pending:
    id: uuid.UUID
    body: bytes
    first: int
    last: int
    next_after: int


@dataclass(frozen=True)
class Outcome:
    ok: bool
    response_status: int | None
    error: str | None
    started: dt.datetime
    duration_ms: float


def backoff(attempts: int, scale: float) -> float:
    """Seconds before the next attempt: about 1 s doubling to 1 h, with jitter."""
    delay: float = min(MOST_DELAY_S, FIRST_DELAY_S * 2.0 ** max(0, attempts - 1))
    return delay * random.uniform(0.75, 1.25) * scale


class Deliverer:
    def __init__(self, engine: Engine, key: bytes, *, allow_private: bool, scale: float) -> None:
        self.engine, self.key = engine, key
        self.allow_private, self.scale = allow_private, scale
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._running: set[asyncio.Task[None]] = set()
        self._main: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._client = httpx.AsyncClient(follow_redirects=False, timeout=TIMEOUT_S, trust_env=False)
        changelog.on_commit(self.wake)
        self._main = self._loop.create_task(self._run())

    def wake(self, _seq: int = 0) -> None:
        """Something to deliver may have committed (from any thread)."""
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._wake.set)

    async def stop(self) -> None:
        self._stopping = True
        changelog.off_commit(self.wake)
        tasks = [t for t in (self._main, *self._running) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        last_lag = 0.0
        failing: str | None = None  # the failure last logged, until a look succeeds
        while not self._stopping:
            self._wake.clear()
            try:
                while len(self._running) < PARALLEL:
                    hook = await asyncio.to_thread(claim, self.engine, self.owner)
                    if hook is None:
                        break
                    task = asyncio.create_task(self._deliver(hook))
                    self._running.add(task)
                    task.add_done_callback(self._finished)
                if time.monotonic() - last_lag > LAG_EVERY_S:
                    last_lag = time.monotonic()
                    await asyncio.to_thread(measure_lag, self.engine)
            except Exception as exc:  # the database is away, or not migrated yet: try again
                # The traceback once a kind of failure, not once a second until it ends.
                # A database error's own text: SQLAlchemy's adds the statement's parameters,
                # a time among them, which differ every look.
                said = f"{type(exc).__name__}: {getattr(exc, 'orig', None) or exc}"
                if said != failing:
                    log.warning(
                        "webhooks: looking for work failed; trying again every %s s",
                        IDLE_POLL_S,
                        exc_info=True,
                    )
                failing = said
            else:
                if failing is not None:
                    log.info("webhooks: looking for work again")
                failing = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), IDLE_POLL_S)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self.wake()  # a slot is free; the webhook may have more to send

    async def _deliver(self, hook: Webhook) -> None:
        try:
            pending = await asyncio.to_thread(prepare, self.engine, self.owner, hook)
            if pending is None:
                return
            outcome = await self._attempt(hook, pending)
            await asyncio.to_thread(record, self.engine, hook, pending, outcome, self.scale)
        except Exception:
            log.warning("webhook %s: delivery interrupted", hook.id, exc_info=True)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(asyncio.to_thread(release, self.engine, self.owner, hook.id))

    async def _attempt(self, hook: Webhook, pending: Pending) -> Outcome:
        started, clock = utcnow(), time.perf_counter()

        def done(ok: bool, status: int | None, error: str | None) -> Outcome:
            elapsed = round((time.perf_counter() - clock) * 1000, 1)
            return Outcome(ok, status, error, started, elapsed)

        try:
            target = await addresses.check_async(hook.url, allow_private=self.allow_private)
        except addresses.Refused as exc:
            return done(False, None, f"address refused: {exc}")
        secret = signing.secret(self.key, hook.id, hook.secret_nonce)
        headers = {
            "Content-Type": "application/json",
            "Battery-Intel-Delivery": str(pending.id),
            "Battery-Intel-Signature": signing.signature(secret, pending.body, int(time.time())),
        }
        assert self._client is not None
        try:
            answer = await asyncio.wait_for(
                self._client.send(_request(self._client, target, pending.body, headers)),
                TIMEOUT_S,
            )
        except TimeoutError:
            return done(False, None, f"no answer within {TIMEOUT_S:.0f} s")
        except httpx.HTTPError as exc:
            return done(False, None, f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__)
        await answer.aclose()
        if 200 <= answer.status_code < 300:
            return done(True, answer.status_code, None)
        return done(False, answer.status_code, f"answered {answer.status_code}")


def _request(
    client: httpx.AsyncClient, target: addresses.Target, body: bytes, headers: dict[str, str]
) -> httpx.Request:
    """POST to the address that was checked (not to a second lookup of the name), with the
    name in Host and, for https, in TLS's server name."""
    url = httpx.URL(target.url)
    host = f"[{target.address}]" if ":" in target.address else target.address
    request = client.build_request(
        "POST",
        url.copy_with(host=host),
        content=body,
        headers={**headers, "Host": url.netloc.decode()},
    )
    if url.scheme == "https":
        request.extensions["sni_hostname"] = target.host
    return request


def claim(engine: Engine, owner: str) -> Webhook | None:
    """Lease the next webhook with something to do (a pending delivery now due, or changes
    after its position), or None. Looked for first without a write, so that an idle
    process costs a read a second, not a lock."""
    now = utcnow()
    with read_connection(engine) as connection:
        if connection.execute(_due(now)).first() is None:
            return None
    with write_session(engine) as session:
        due = _due(now)
        if session.get_bind().dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        statement = (
            update(TABLE)
            .where(TABLE.c.id == due.scalar_subquery())
            .values(lease_owner=owner, lease_until=now + LEASE)
            .returning(*TABLE.c)
        )
        row = session.execute(statement).first()
        session.commit()
    return Webhook(**row._mapping) if row else None


def _due(now: dt.datetime) -> Any:
    """One statement, the feed's head read inside it: an idle poll is a single query."""
    return (
        select(TABLE.c.id)
        .where(
            TABLE.c.active.is_(True),
            or_(TABLE.c.lease_until.is_(None), TABLE.c.lease_until < now),
            or_(TABLE.c.next_attempt_at.is_(None), TABLE.c.next_attempt_at <= now),
            or_(TABLE.c.pending_id.is_not(None), TABLE.c.after < changelog.head_query()),
        )
        .order_by(TABLE.c.id)
        .limit(1)
    )


def prepare(engine: Engine, owner: str, hook: Webhook) -> Pending | None:
    """The delivery to attempt: the pending one, or the next run of changes stored as pending
    (None when none match its collections: the position then moves past them)."""
    if hook.pending_id is not None:
        return Pending(hook.pending_id, (hook.pending_body or "").encode(), hook.pending_first or 0,
                       hook.pending_last or 0, hook.pending_next_after or 0)  # fmt: skip
    with read_connection(engine) as connection:
        page = feed.read(connection, hook.after, BATCH, hook.collections)
    still = and_(TABLE.c.id == hook.id, TABLE.c.lease_owner == owner,
                 TABLE.c.pending_id.is_(None), TABLE.c.after == hook.after)  # fmt: skip
    with write_session(engine) as session:
        if not page.items:
            session.execute(update(TABLE).where(still).values(after=page.next_after))
            session.commit()
            return None
        body = dumps(
            {"webhook_id": str(hook.id), "items": page.items, "next_after": page.next_after}
        )
        pending = Pending(uuid.uuid4(), body, page.items[0]["seq"], page.items[-1]["seq"],
                          page.next_after)  # fmt: skip
        stored = session.execute(
            update(TABLE).where(still).values(
                pending_id=pending.id, pending_body=body.decode(), pending_first=pending.first,
                pending_last=pending.last, pending_next_after=pending.next_after,
            )
        )  # fmt: skip
        session.commit()
    return pending if stored.rowcount else None  # type: ignore[attr-defined]


def record(engine: Engine, hook: Webhook, pending: Pending, outcome: Outcome, scale: float) -> None:
    """Log the attempt; move the position on success, else schedule the next attempt (or,
    after 72 h of failures, disable the webhook) — only if the delivery is still pending."""
    DELIVERED.labels("succeeded" if outcome.ok else "failed").inc()
    with write_session(engine) as session:
        still = and_(TABLE.c.id == hook.id, TABLE.c.pending_id == pending.id)
        current = session.execute(
            select(TABLE.c.attempts, TABLE.c.first_failed_at).where(still)
        ).first()
        if current is None:
            return  # replayed, re-aimed or deleted meanwhile: this delivery is dropped
        attempts, first_failed = current.attempts + 1, current.first_failed_at or outcome.started
        session.add(WebhookAttempt(
            webhook_id=hook.id, delivery_id=pending.id, attempt=attempts,
            first_seq=pending.first, last_seq=pending.last,
            status="succeeded" if outcome.ok else "failed",
            response_status=outcome.response_status, error=outcome.error,
            duration_ms=outcome.duration_ms, at=outcome.started,
        ))  # fmt: skip
        if outcome.ok:
            values = {"after": pending.next_after, **NOT_PENDING, **FRESH}
        elif utcnow() - first_failed >= GIVE_UP:
            reason = f"no 2xx answer for 72 hours; the last attempt: {outcome.error}"
            values = {"active": False, "disabled_reason": reason, **FRESH}
        else:
            delay = dt.timedelta(seconds=backoff(attempts, scale))
            values = {"attempts": attempts, "first_failed_at": first_failed,
                      "next_attempt_at": utcnow() + delay}  # fmt: skip
        session.execute(update(TABLE).where(still).values(**values))
        head = changelog.head(session)
        session.commit()
    position = pending.next_after if outcome.ok else hook.after
    LAG.labels(str(hook.id)).set(max(0, head - position))


def release(engine: Engine, owner: str, webhook_id: uuid.UUID) -> None:
    with write_session(engine) as session:
        session.execute(
            update(TABLE)
            .where(TABLE.c.id == webhook_id, TABLE.c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )
        session.commit()


def measure_lag(engine: Engine) -> None:
    with read_connection(engine) as connection:
        positions = select(TABLE.c.id, TABLE.c.after, changelog.head_query())
        for webhook_id, after, head in connection.execute(positions):
            LAG.labels(str(webhook_id)).set(max(0, head - after))
