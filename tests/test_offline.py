"""The session-wide network guard from conftest.py blocks remote connections and allows loopback.

No test here connects anywhere but 127.0.0.1. Every remote attempt targets an address reserved
for documentation (192.0.2.0/24 in RFC 5737, 2001:db8::/32 in RFC 3849). A spy replaces the real
socket call, so each test also proves that the guard raised before anything was sent.
"""

from __future__ import annotations

import socket
import urllib.request

import pytest

from network_guard import NetworkAccessError, NetworkGuard, is_loopback_host

REMOTE_IPV4 = ("192.0.2.1", 80)  # TEST-NET-1, RFC 5737
REMOTE_IPV6 = ("2001:db8::1", 80)  # documentation prefix, RFC 3849


@pytest.fixture
def real_calls(network_guard: NetworkGuard, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace the guard's saved socket functions with spies and return the list of their calls."""
    calls: list[str] = []

    def spy(name: str):
        def record(*args: object, **kwargs: object) -> None:
            calls.append(name)
            raise AssertionError(f"the real socket function {name} was reached")

        return record

    for name in ("connect", "connect_ex", "create_connection"):
        monkeypatch.setattr(network_guard, name, spy(name))
    return calls


def test_guard_blocks_connect(real_calls: list[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        with pytest.raises(NetworkAccessError, match="192.0.2.1"):
            sock.connect(REMOTE_IPV4)
        with pytest.raises(OSError):
            sock.getpeername()  # still unconnected
    assert real_calls == []


def test_guard_blocks_connect_ex(real_calls: list[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        with pytest.raises(NetworkAccessError, match="192.0.2.1"):
            sock.connect_ex(REMOTE_IPV4)
    assert real_calls == []


def test_guard_blocks_ipv6(real_calls: list[str]) -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        with pytest.raises(NetworkAccessError, match="2001:db8::1"):
            sock.connect(REMOTE_IPV6)
    assert real_calls == []


def test_guard_blocks_create_connection(real_calls: list[str]) -> None:
    with pytest.raises(NetworkAccessError, match="192.0.2.1"):
        socket.create_connection(REMOTE_IPV4, timeout=1)
    # A host name is rejected before it is resolved, so no DNS query is sent either.
    with pytest.raises(NetworkAccessError, match="example.com"):
        socket.create_connection(("example.com", 443), timeout=1)
    assert real_calls == []


def test_guard_blocks_urlopen(real_calls: list[str]) -> None:
    with pytest.raises(NetworkAccessError):
        urllib.request.urlopen("http://192.0.2.1/", timeout=1)
    assert real_calls == []


def test_guard_allows_loopback() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=5) as client:
            accepted, _ = server.accept()
            with accepted:
                client.sendall(b"ping")
                assert accepted.recv(4) == b"ping"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),  # all of 127.0.0.0/8 is loopback (RFC 1122)
        ("::1", True),
        ("::ffff:127.0.0.1", True),  # IPv4-mapped loopback
        ("localhost", True),
        ("LOCALHOST", True),
        (b"127.0.0.1", True),
        ("192.0.2.1", False),
        ("10.0.0.1", False),
        ("0.0.0.0", False),
        ("169.254.169.254", False),
        ("2001:db8::1", False),
        ("example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_is_loopback_host(host: str | bytes, expected: bool) -> None:
    assert is_loopback_host(host) is expected
