import socket

import pytest

from tests.conftest import NetworkBlocked


def test_outside_connection_fails_loudly():
    with pytest.raises(NetworkBlocked, match="network"):
        socket.create_connection(("example.com", 443), timeout=1)
    with pytest.raises(NetworkBlocked):
        socket.socket().connect(("93.184.216.34", 80))
