"""tsmon_core: a UI-free client of the Linux taskstats interface and a model of it."""

from ._version import __version__
from .backends import Backend, BackendInfo, ExitListener, RawFrame, open_backend
from .decode import decode_cgroupstats, decode_datagram, decode_taskstats
from .encode import encode_taskstats
from .errors import (
    BackendError,
    CgroupUnsupportedError,
    CpumaskError,
    DecodeError,
    FamilyUnavailableError,
    KernelError,
    ListenerOverflowError,
    NamespaceError,
    PermissionDeniedError,
    SessionFormatError,
    TaskGoneError,
    TsmonError,
)
from .model import CgroupStats, ExitEvent, TaskStats, TaskstatsMessage

__all__ = [
    "Backend",
    "BackendError",
    "BackendInfo",
    "CgroupStats",
    "CgroupUnsupportedError",
    "CpumaskError",
    "DecodeError",
    "ExitEvent",
    "ExitListener",
    "FamilyUnavailableError",
    "KernelError",
    "ListenerOverflowError",
    "NamespaceError",
    "PermissionDeniedError",
    "RawFrame",
    "SessionFormatError",
    "TaskGoneError",
    "TaskStats",
    "TaskstatsMessage",
    "TsmonError",
    "__version__",
    "decode_cgroupstats",
    "decode_datagram",
    "decode_taskstats",
    "encode_taskstats",
    "open_backend",
]
