"""Which requests the emulator answers at all: those sent to its own address, never those a web page sends.

A browser on the same machine can reach the emulator: a page may POST to ``127.0.0.1`` (a "simple"
cross-site request needs no preflight), and DNS rebinding points an attacker's name at loopback. So:

- the ``Host`` header must name the emulator: ``localhost`` or a name under it, an IP address (loopback, or
  the bound address a client on the network dials), or the host the emulator was started with. Any other
  DNS name is what rebinding looks like, and is refused.
- a request with an ``Origin`` header, which browsers add and SDKs and device code never send, is refused
  on the control API and on every call that may change something (any method but GET, HEAD and OPTIONS).

AWS APIs also need a SigV4 signature (checked by the front app); query-string credentials, which a page can
put in a link, are accepted for S3 presigned URLs only.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def host_name(host_header: str) -> str:
    """The host part of a ``Host`` header value: ``[::1]:4567`` -> ``::1``, ``Localhost:80`` -> ``localhost``."""
    value = host_header.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    if value.count(":") == 1:
        return value.partition(":")[0]
    return value


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def allowed_host(name: str, own_host: str) -> bool:
    """Whether a request addressed to host ``name`` is meant for an emulator started on ``own_host``."""
    name = name.rstrip(".")
    return (
        name == "localhost"
        or name.endswith(".localhost")
        or _is_ip(name)
        or name == host_name(own_host)
    )


def refusal(environ: Mapping[str, Any], own_host: str, *, control: bool) -> str | None:
    """Why the request must not be answered, or None when it may be."""
    host = environ.get("HTTP_HOST")
    if host is not None and not allowed_host(host_name(str(host)), own_host):
        return (
            f"the Host header {host!r} does not name this emulator; it answers requests to localhost, "
            f"an IP address or {own_host!r} only"
        )
    origin = environ.get("HTTP_ORIGIN")
    method = str(environ.get("REQUEST_METHOD", "GET")).upper()
    if origin is not None and (control or method not in SAFE_METHODS):
        return f"requests from web pages (Origin {origin!r}) are refused: the emulator serves SDKs and devices"
    return None
