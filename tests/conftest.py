"""Shared fixtures. No test may reach the network: any connection outside loopback fails loudly."""
from __future__ import annotations

import ipaddress
import os
import socket

import pytest

# `atelier run` uses a warm server when one answers on the default port: a test (and the CLI it starts)
# never does, unless it names one itself (tests/test_serve_cli.py)
os.environ["ATELIER_SERVER"] = "off"

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _loopback(host) -> bool:
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class NetworkBlocked(RuntimeError):
    pass


def _guard(address):
    host = address[0] if isinstance(address, tuple) else None
    if isinstance(address, (str, bytes)):  # unix socket
        return
    if not _loopback(host):
        raise NetworkBlocked(f"test tried to reach the network: {address!r}")


def _connect(self, address):
    _guard(address)
    return _real_connect(self, address)


def _connect_ex(self, address):
    _guard(address)
    return _real_connect_ex(self, address)


def _getaddrinfo(host, *args, **kwargs):
    if not _loopback(host if not isinstance(host, bytes) else host.decode()):
        raise NetworkBlocked(f"test tried to resolve a network host: {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", _getaddrinfo)
    for var in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "STABILITY_API_KEY", "REPLICATE_API_TOKEN",
                "RUNWAYML_API_SECRET", "ANTHROPIC_BASE_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _credentials_dir(monkeypatch, tmp_path_factory):
    """The local C2PA certificate is made once per session in a temporary folder, never in ~/.config."""
    monkeypatch.setenv("ATELIER_CREDENTIALS_DIR", str(tmp_path_factory.getbasetemp() / "credentials"))
    monkeypatch.delenv("ATELIER_C2PA_CERT", raising=False)
    monkeypatch.delenv("ATELIER_C2PA_KEY", raising=False)


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    try:
        import torch
        torch.set_num_threads(2)
    except ImportError:
        pass


@pytest.fixture
def backends():
    """`backends("llm", "fixed", "tests.test_x:_fixed")`: `registry.override` for the rest of the test."""
    from contextlib import ExitStack

    from agent.core import registry
    with ExitStack() as stack:
        yield lambda kind, prefix, target: stack.enter_context(registry.override(kind, prefix, target))
