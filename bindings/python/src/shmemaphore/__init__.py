"""shmemaphore: same-host IPC for large payloads over POSIX shared memory.

A :class:`Server` (the requester) sends a request, usually a name; a
:class:`Client` (the responder) answers with an image, raw bytes or an error.
The payload travels through shared memory: a :class:`Response`'s ``data`` is
a view into it, valid until the channel's next call (see the README).

    import shmemaphore
    with shmemaphore.Server("ibis") as server:
        r = server.request(b"dog", timeout=5.0)
        image = r.to_numpy()            # uint8 (H, W, C), no copy

    with shmemaphore.Client("ibis") as client:
        name = client.receive()
        client.respond_image(pixels)
"""

from __future__ import annotations

import collections as _collections

from ._errors import (
    Busy,
    Error,
    Exists,
    ImageDecodeError,
    ImageEncodeError,
    Interrupted,
    InvalidArgument,
    InvalidName,
    Kind,
    NotImage,
    PeerError,
    PeerGone,
    ProtocolError,
    SysError,
    Timeout,
    TooLarge,
    UnsafePermissions,
    UnsupportedFormat,
    WrongRole,
    WrongState,
)
from . import _shmemaphore
from ._shmemaphore import (
    CHANNEL_NAME_MAX,
    OBJECT_DATA,
    OBJECT_HEAD,
    OBJECT_REQ,
    OBJECT_RES,
    Channel,
    Client,
    Reservation,
    Response,
    Server,
    error_name,
    fnv1a64,
    list_channels,
    protocol_version,
    remove_channel,
    strerror,
    version,
    version_number,
)

ChannelInfo = _collections.namedtuple("ChannelInfo", ["name", "objects", "server_locked", "client_locked"])
ChannelInfo.__doc__ = """A channel found in /dev/shm by list_channels().

name: the channel name; objects: OBJECT_* bits of the objects that exist;
server_locked / client_locked: 1 a live libshmemaphore server/client holds
its liveness lock, 0 none does, -1 unknown."""
_shmemaphore._set_channel_info(ChannelInfo)

#: Version of this binding (the library's version it was built with).
__version__ = _shmemaphore.header_version

#: Suggested error codes for Client.respond_error (SHMEMAPHORE_PEER_ERROR_*).
PEER_ERROR_UNSPECIFIED = 0
PEER_ERROR_NOT_FOUND = 1
PEER_ERROR_BAD_REQUEST = 2

__all__ = [
    "Busy", "Channel", "ChannelInfo", "Client", "Error", "Exists", "ImageDecodeError",
    "ImageEncodeError", "Interrupted", "InvalidArgument", "InvalidName", "Kind", "NotImage",
    "PeerError", "PeerGone", "ProtocolError", "Reservation", "Response", "Server", "SysError",
    "Timeout", "TooLarge", "UnsafePermissions", "UnsupportedFormat", "WrongRole", "WrongState",
    "CHANNEL_NAME_MAX", "OBJECT_DATA", "OBJECT_HEAD", "OBJECT_REQ", "OBJECT_RES",
    "PEER_ERROR_BAD_REQUEST", "PEER_ERROR_NOT_FOUND", "PEER_ERROR_UNSPECIFIED",
    "error_name", "fnv1a64", "list_channels", "protocol_version", "remove_channel", "strerror",
    "version", "version_number",
]
