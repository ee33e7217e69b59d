"""Block socket connections from the test process to any address outside this machine.

The lessons and the library must never download anything at run time. ``tests/conftest.py``
installs a ``NetworkGuard`` for the whole test session, so a test that opens a connection to a
non-loopback address fails with ``NetworkAccessError`` before the connection is attempted.
Loopback stays open because nbval's kernel and the browser test talk to local servers.

NOTE: the guard covers this Python process only. Child processes (the Jupyter kernel, the
JupyterLab server, Chromium) are not patched: the browser test aborts Chromium's non-local
requests itself. Name lookups through ``socket.getaddrinfo`` are not blocked either.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest

LOOPBACK_NAMES = ("localhost", "localhost.")


class NetworkAccessError(RuntimeError):
    """Raised when a test tries to connect to an address outside this machine."""


def is_loopback_host(host: str | bytes) -> bool:
    """Return True for ``localhost`` and for literal loopback addresses (127.0.0.0/8, ::1).

    Any other host name counts as remote: resolving it would already be a network request.
    """
    if isinstance(host, bytes):
        host = host.decode("ascii", errors="replace")
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 zone such as %eth0
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def is_local_address(family: int, address: object) -> bool:
    """Return True if connecting a socket of ``family`` to ``address`` stays on this machine."""
    if family == getattr(socket, "AF_UNIX", None):
        return True
    if family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple) and address:
        return is_loopback_host(address[0])
    return False


class NetworkGuard:
    """Patch ``socket`` so that connections to non-loopback addresses raise ``NetworkAccessError``.

    The original functions are kept as attributes (``connect``, ``connect_ex``,
    ``create_connection``) and called only for local addresses. A test can replace them with
    a spy to prove that a blocked attempt never reached the real socket call.
    """

    def __init__(self) -> None:
        self.connect = socket.socket.connect
        self.connect_ex = socket.socket.connect_ex
        self.create_connection = socket.create_connection
        self.blocked: list[object] = []

    def check(self, family: int, address: object) -> None:
        """Raise ``NetworkAccessError`` unless ``address`` is on this machine."""
        if not is_local_address(family, address):
            self.blocked.append(address)
            raise NetworkAccessError(
                f"blocked a network connection to {address!r}: tests may only connect to loopback "
                "addresses (127.0.0.1, ::1, localhost); the lessons must not download anything at run time"
            )

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Replace the socket functions through ``monkeypatch``, which restores them on undo."""
        guard = self

        def guarded_connect(sock: socket.socket, address: object) -> None:
            guard.check(sock.family, address)
            return guard.connect(sock, address)

        def guarded_connect_ex(sock: socket.socket, address: object) -> int:
            guard.check(sock.family, address)
            return guard.connect_ex(sock, address)

        def guarded_create_connection(address: tuple, *args: object, **kwargs: object) -> socket.socket:
            # Check the host before create_connection resolves it, so no lookup is sent either.
            if not is_loopback_host(address[0]):
                guard.check(socket.AF_INET, address)
            return guard.create_connection(address, *args, **kwargs)

        monkeypatch.setattr(socket.socket, "connect", guarded_connect)
        monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
        monkeypatch.setattr(socket, "create_connection", guarded_create_connection)
