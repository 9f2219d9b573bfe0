"""Webhook signatures (API.md §11): `t=<unix seconds>,v1=<hex HMAC-SHA256>` over
"<t>.<raw body>", keyed with the webhook's secret.

A secret is derived, never stored: HMAC(server key, "<webhook id>:<nonce>"). The server key
is WEBHOOK_SECRET_KEY, or else a random key kept in a file beside the default SQLite
database (`./data/webhook-secret.key`, made on first use), never in the database: a dump of
the database alone can sign nothing. Replicas on several hosts must share the setting.
"""

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
import uuid
from pathlib import Path

SECRET_PREFIX = "whsec_"
KEY_FILE = Path("data") / "webhook-secret.key"


def new_nonce() -> str:
    return secrets.token_hex(16)


def secret(key: bytes, webhook_id: uuid.UUID, nonce: str) -> str:
    """The webhook's secret: 43 URL-safe characters after `whsec_`, no spaces."""
    digest = hmac.new(key, f"{webhook_id}:{nonce}".encode(), hashlib.sha256).digest()
    return SECRET_PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def signature(secret_text: str, body: bytes, at: int) -> str:
    """The `Battery-Intel-Signature` header for `body` sent at unix second `at`."""
    mac = hmac.new(secret_text.encode(), f"{at}.".encode() + body, hashlib.sha256)
    return f"t={at},v1={mac.hexdigest()}"


def server_key(setting: str | None, key_file: Path = KEY_FILE) -> bytes:
    """The key secrets are derived from: the setting, or the key file (made once, atomically,
    so that several workers starting together agree on one)."""
    if setting:
        return setting.encode()
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        draft = key_file.with_name(f".{key_file.name}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_urlsafe(48))
        with contextlib.suppress(FileExistsError):  # another worker's key came first: use it
            os.link(draft, key_file)  # whole or not there: never half a key
        draft.unlink()
    return key_file.read_text().strip().encode()
