"""What `smki serve` hands uvicorn besides the app: the HTTP protocol class with TCP_NODELAY set.

With ``--workers N`` uvicorn's supervisor binds the socket and each worker accepts on its own copy, which
Python rebuilds from the descriptor with protocol number 0; asyncio then does not recognise the accepted
connections as TCP and leaves Nagle's algorithm on. On a keep-alive connection a response written in two
parts then waits for the client's delayed ACK: ~40 ms per request (23 lookups/s on one connection
instead of several hundred). Setting TCP_NODELAY on every accepted connection removes that, whatever the
worker count.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

# Passed to uvicorn by name, so that every worker process imports the same class.
HTTP_PROTOCOL = "smki.api.server:NoDelayHTTPProtocol"


class NoDelayHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's own HTTP protocol (httptools or h11, as uvicorn picks) on a connection without Nagle."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        set_nodelay(transport)
        super().connection_made(transport)


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Turn Nagle's algorithm off on the transport's TCP connection (nothing for other kinds)."""
    connection: Any = transport.get_extra_info("socket")
    if connection is not None and connection.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):  # not a TCP connection after all: nothing to turn off
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
