"""Where webhooks may post (API.md §11): http(s) URLs whose host resolves to global addresses
only, checked when a webhook is made or changed and again before every attempt, so that a
name re-pointed at a private address later is refused too (WEBHOOK_ALLOW_PRIVATE lifts it).
"""

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit


class Refused(ValueError):
    """The URL may not be posted to; the message says why."""


@dataclass(frozen=True)
class Target:
    """A URL checked: the address to connect to, and the host name it was given by."""

    url: str
    host: str
    address: str  # the resolved IP the request goes to (no second lookup to re-point)


def parse(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL; Refused for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("must be an http or https URL with a host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Refused("has a port that is not a number from 1 to 65535") from None
    return parts.scheme, parts.hostname, port


def _allowed(infos: list[tuple[object, ...]], host: str, allow_private: bool) -> str:
    addresses = [str(info[4][0]) for info in infos]  # type: ignore[index]
    if not addresses:
        raise Refused(f"'{host}' does not resolve")
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        # Python 3.11 counts some multicast ranges as global; a webhook is never multicast.
        if not allow_private and (not ip.is_global or ip.is_multicast):
            raise Refused(f"'{host}' resolves to {ip}, which is not a public address")
    return addresses[0]


def check(url: str, *, allow_private: bool) -> Target:
    """Resolve and judge the URL's host now (blocking: call it off the event loop)."""
    _, host, port = parse(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Refused(f"'{host}' does not resolve ({exc})") from None
    return Target(url, host, _allowed(list(infos), host, allow_private))


async def check_async(url: str, *, allow_private: bool) -> Target:
    """`check`, resolving on the event loop's resolver (threads, not the loop itself)."""
    _, host, port = parse(url)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Refused(f"'{host}' does not resolve ({exc})") from None
    return Target(url, host, _allowed(list(infos), host, allow_private))
