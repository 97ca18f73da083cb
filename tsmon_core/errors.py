"""Typed errors raised by tsmon_core; the core never prints."""

from __future__ import annotations

import errno as _errno

__all__ = [
    "BackendError",
    "CgroupUnsupportedError",
    "CpumaskError",
    "DecodeError",
    "FamilyUnavailableError",
    "KernelError",
    "ListenerOverflowError",
    "NamespaceError",
    "PermissionDeniedError",
    "SessionFormatError",
    "TaskGoneError",
    "TsmonError",
    "error_from_errno",
]


class TsmonError(Exception):
    """Base of every error tsmon_core raises."""


class DecodeError(TsmonError):
    """Bytes that are not a well-formed taskstats/netlink message."""


class BackendError(TsmonError):
    """A backend could not be opened or used."""


class FamilyUnavailableError(BackendError):
    """The kernel has no TASKSTATS generic-netlink family."""


class KernelError(TsmonError):
    """The kernel (or the simulated kernel) answered with an errno."""

    def __init__(self, err: int, message: str | None = None) -> None:
        self.errno = err
        name = _errno.errorcode.get(err, f"errno {err}")
        super().__init__(message or f"{name}: {_strerror(err)}")


class PermissionDeniedError(KernelError):
    """EPERM: taskstats queries and listeners need CAP_NET_ADMIN."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            _errno.EPERM,
            message
            or "permission denied: taskstats needs CAP_NET_ADMIN in the initial user namespace "
            "(run as root, or grant it: setcap cap_net_admin+ep)",
        )


class TaskGoneError(KernelError):
    """ESRCH: no task with that id (it exited or never existed)."""

    def __init__(self, task_id: int | None = None, message: str | None = None) -> None:
        self.task_id = task_id
        text = message or (f"no such task: {task_id}" if task_id is not None else "no such task")
        super().__init__(_errno.ESRCH, text)


class CgroupUnsupportedError(KernelError):
    """EINVAL from cgroupstats: the directory is not a cgroup v1 directory."""

    def __init__(self, path: str, message: str | None = None) -> None:
        self.path = path
        super().__init__(
            _errno.EINVAL,
            message
            or f"{path}: cgroupstats works only on cgroup v1 directories "
            "(cgroup2 and plain directories are unsupported by the kernel)",
        )


class CpumaskError(KernelError):
    """A cpumask the kernel refuses (EINVAL, ERANGE or E2BIG)."""

    def __init__(self, err: int, mask: str, message: str | None = None) -> None:
        self.mask = mask
        reasons = {
            _errno.E2BIG: "too long for this kernel",
            _errno.ERANGE: "names a CPU this machine does not have",
            _errno.EINVAL: "is not a valid CPU list (e.g. 0-3,8)",
        }
        shown = mask if len(mask) <= 40 else mask[:37] + "..."
        super().__init__(err, message or f"cpumask {shown!r} {reasons.get(err, _strerror(err))}")


class NamespaceError(KernelError):
    """EINVAL on listener registration outside the initial user/pid namespace."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            _errno.EINVAL,
            message
            or "exit listeners work only in the initial pid and user namespaces "
            "(run tsmon on the host, not inside a container)",
        )


class ListenerOverflowError(KernelError):
    """ENOBUFS: the listener's receive buffer overflowed and events were lost."""

    def __init__(self, lost: int, message: str | None = None) -> None:
        self.lost = lost
        super().__init__(
            _errno.ENOBUFS,
            message or f"exit listener overflowed: {lost} events lost so far",
        )


class SessionFormatError(TsmonError):
    """A recording that is not a tsmon session or cannot be read."""


def _strerror(err: int) -> str:
    import os

    try:
        return os.strerror(err)
    except ValueError:
        return "unknown error"


def error_from_errno(err: int, *, task_id: int | None = None) -> KernelError:
    """Map a positive errno from a netlink reply to the typed error."""
    if err == _errno.EPERM:
        return PermissionDeniedError()
    if err == _errno.ESRCH:
        return TaskGoneError(task_id)
    return KernelError(err)


# --- appended for the live netlink backend ---------------------------------------------------
__all__ += ["CgroupPathError", "NoReplyError"]


class CgroupPathError(BackendError):
    """A cgroup directory that cannot be opened (missing, not a directory, no access)."""

    def __init__(self, path: str, err: int, message: str | None = None) -> None:
        self.path = path
        self.errno = err
        super().__init__(message or f"cannot open cgroup directory {path}: {_strerror(err)}")


class NoReplyError(BackendError):
    """The kernel did not answer a request within the timeout."""


# --- appended for recorded sessions (session.py, backends/replay.py) -------------------------
__all__ += ["EndOfRecordingError"]


class EndOfRecordingError(TsmonError):
    """A replay was asked for a frame after the recording's last one."""

    def __init__(self, frames: int | None = None, message: str | None = None) -> None:
        self.frames = frames
        shown = f" ({frames} frames)" if frames is not None else ""
        super().__init__(message or f"the recording has no more frames{shown}")
