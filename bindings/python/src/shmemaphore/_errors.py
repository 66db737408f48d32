"""Exception classes and the payload kind of the shmemaphore binding.

The C extension (``shmemaphore._shmemaphore``) raises these; they live in
Python so that they can inherit from several builtin exceptions.
"""

from __future__ import annotations

import enum
from typing import Dict, Optional, Type

__all__ = [
    "Kind",
    "Error",
    "PeerError",
    "Timeout",
    "PeerGone",
    "Busy",
    "ProtocolError",
    "Interrupted",
    "InvalidArgument",
    "InvalidName",
    "WrongRole",
    "WrongState",
    "Exists",
    "ImageDecodeError",
    "ImageEncodeError",
    "UnsupportedFormat",
    "NotImage",
    "TooLarge",
    "UnsafePermissions",
    "SysError",
]


class Kind(enum.IntEnum):
    """Kind of a response payload (``SHMEMAPHORE_PAYLOAD_*``)."""

    IMAGE = 0
    """8-bit pixels: ``nbytes == width * height * channels``, all >= 1."""
    BYTES = 1
    """Opaque bytes: ``width == height == channels == 0``."""
    ERROR = 2
    """An error response; never the kind of a :class:`Response` (it raises :class:`PeerError`)."""


class Error(Exception):
    """Base class of every failure the library reports.

    Attributes:
        code: the C status code (a negative ``int``: ``SHMEMAPHORE_E_*``, or ``-errno``).
        name: its symbolic name, from ``shmemaphore_error_name`` (e.g. ``"SHMEMAPHORE_E_TIMEOUT"``).
    """

    code: int
    name: str

    def __init__(self, message: str, code: int = 0, name: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.name = name


class PeerError(Error):
    """The client answered with an error response (``SHMEMAPHORE_E_PEER_ERROR``).

    Attributes:
        peer_code: the client's application-defined code (``SHMEMAPHORE_PEER_ERROR_*`` suggests 0, 1, 2).
        message: the client's message (UTF-8, undecodable bytes replaced).
    """

    peer_code: int
    message: str

    NOT_FOUND = 1
    BAD_REQUEST = 2
    UNSPECIFIED = 0

    def __init__(self, message: str, code: int = 0, name: str = "", peer_code: int = 0) -> None:
        super().__init__(f"peer error {peer_code}: {message}", code, name)
        self.peer_code = peer_code
        self.message = message


class Timeout(Error, TimeoutError):
    """The timeout expired before the peer acted; the channel stays usable."""


class PeerGone(Error):
    """The peer closed the channel or died."""


class Busy(Error):
    """The channel is taken: another client is attached, or a live server holds it."""


class ProtocolError(Error):
    """The peer left shared memory in a state that breaks the protocol."""


class Interrupted(Error):
    """A wait was ended by :meth:`Server.interrupt` / :meth:`Client.interrupt`."""


class InvalidArgument(Error, ValueError):
    """An argument was impossible (``SHMEMAPHORE_E_INVALID_ARGUMENT``)."""


class InvalidName(Error, ValueError):
    """The channel name is empty, too long, not UTF-8, has a control character or a '/' inside."""


class WrongRole(Error):
    """The call belongs to the other role."""


class WrongState(Error):
    """The call is not allowed in the channel's current state."""


class Exists(Error):
    """The channel's objects exist and ``stale="fail"`` was asked for."""


class ImageDecodeError(Error):
    """An image file could not be decoded."""


class ImageEncodeError(Error):
    """An image could not be encoded or written."""


class UnsupportedFormat(Error, ValueError):
    """A file extension names no supported format, or the shape does not fit it."""


class NotImage(Error, TypeError):
    """The response is not an image."""


class TooLarge(Error, ValueError):
    """A size does not fit the address space, or a product overflowed."""


class UnsafePermissions(Error, PermissionError):
    """An existing object belongs to another user or is too permissive."""


class SysError(Error, OSError):
    """A system error; ``code`` is ``-errno`` and ``errno`` is set."""

    def __init__(self, message: str, code: int = 0, name: str = "") -> None:
        super().__init__(message, code, name)
        self.errno = -code
        self.strerror = message


for _cls in (Kind, Error, PeerError, Timeout, PeerGone, Busy, ProtocolError, Interrupted, InvalidArgument,
             InvalidName, WrongRole, WrongState, Exists, ImageDecodeError, ImageEncodeError, UnsupportedFormat,
             NotImage, TooLarge, UnsafePermissions, SysError):
    _cls.__module__ = "shmemaphore"

# C status code -> class (the C extension reads this table).
_CLASSES: Dict[int, Type[Error]] = {
    -1001: InvalidArgument,
    -1002: InvalidName,
    -1003: Timeout,
    -1004: ProtocolError,
    -1005: PeerError,
    -1006: PeerGone,
    -1007: WrongRole,
    -1008: WrongState,
    -1009: Exists,
    -1010: ImageDecodeError,
    -1011: ImageEncodeError,
    -1012: UnsupportedFormat,
    -1013: NotImage,
    -1014: TooLarge,
    -1015: UnsafePermissions,
    -1016: Busy,
    -4: Interrupted,
}


def class_for_code(code: int) -> Type[Error]:
    """The exception class the binding raises for C status ``code``."""
    cls: Optional[Type[Error]] = _CLASSES.get(code)
    if cls is not None:
        return cls
    if -1000 < code < 0:
        return SysError
    return Error
