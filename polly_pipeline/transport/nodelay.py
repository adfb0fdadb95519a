"""Transport layer: turn off Nagle's algorithm on the sockets awscrt opens for us.

A speech stream writes many small frames (a TextEvent is a few hundred bytes, a keep-alive
about 200). With Nagle's algorithm on, the kernel holds a small write back while an earlier
one is unacknowledged, and the server's delayed ACK (40 ms on Linux) turns that into a
40 ms stall on a busy connection: many streams sharing one connection pay it on almost every
event. HTTP/2 clients normally set TCP_NODELAY; aws-c-io can, but awscrt's Python
``SocketOptions`` (0.38) does not expose it, and its sockets keep Nagle on.

So after a connection is set up, :func:`disable_nagle` finds the process's TCP sockets that
appeared since a :func:`tcp_sockets` snapshot taken before connecting and that are connected
to the endpoint's port, and sets TCP_NODELAY on them (through a duplicate descriptor: socket
options belong to the socket, not the descriptor). Platforms without a descriptor directory
(``/proc/self/fd`` or ``/dev/fd``) keep awscrt's default.
"""

from __future__ import annotations

import logging
import os
import socket
import stat

__all__ = ["disable_nagle", "tcp_sockets"]

log = logging.getLogger(__name__)

_FD_DIRS = ("/proc/self/fd", "/dev/fd")

#: A socket's identity that survives its descriptor number being reused: (device, inode).
SocketId = tuple[int, int]


def _descriptors() -> list[int]:
    for path in _FD_DIRS:
        try:
            return [int(name) for name in os.listdir(path) if name.isdigit()]
        except OSError:
            continue
    return []


def _tcp_peer_port(fd: int) -> tuple[SocketId, int] | None:
    """The socket's identity and its peer's port, if ``fd`` is a connected TCP socket."""
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    if not stat.S_ISSOCK(st.st_mode):
        return None
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return None
    with sock:
        if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_STREAM:
            return None
        try:
            port = int(sock.getpeername()[1])
        except OSError:  # not connected (a listener, or closing)
            return None
    return (st.st_dev, st.st_ino), port


def tcp_sockets() -> set[SocketId]:
    """The TCP sockets this process has open now (a snapshot to compare against)."""
    found = (_tcp_peer_port(fd) for fd in _descriptors())
    return {hit[0] for hit in found if hit is not None}


def disable_nagle(port: int, before: set[SocketId]) -> int:
    """Set TCP_NODELAY on new TCP sockets connected to ``port``; returns how many changed."""
    changed = 0
    for fd in _descriptors():
        hit = _tcp_peer_port(fd)
        if hit is None or hit[1] != port or hit[0] in before:
            continue
        try:
            with socket.socket(fileno=os.dup(fd)) as sock:
                if not sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    changed += 1
        except OSError as exc:  # closed meanwhile: nothing to tune
            log.debug("could not set TCP_NODELAY on descriptor %d: %s", fd, exc)
    return changed
