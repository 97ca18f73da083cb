"""What the live backend does without CAP_NET_ADMIN, with only that capability, and in a child
pid namespace: each case runs in a small python subprocess started through setpriv/unshare.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tsmon_core.errors import FamilyUnavailableError
from tsmon_core.netlink import resolve_family

pytestmark = pytest.mark.kernel

REPO = Path(__file__).resolve().parents[2]
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
NET_ADMIN_ONLY = [*NOBODY, "--inh-caps=+net_admin", "--ambient-caps=+net_admin"]

PRELUDE = f"""
import json, os, sys
sys.path.insert(0, {str(REPO)!r})
from tsmon_core.backends import open_backend

def failure(exc):
    return {{"error": type(exc).__name__, "errno": getattr(exc, "errno", None),
             "message": str(exc)}}
"""


@pytest.fixture(autouse=True)
def _can_switch_users() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to start processes as another user or in a new namespace")
    try:
        resolve_family()
    except FamilyUnavailableError as exc:
        pytest.skip(f"no TASKSTATS family in this kernel: {exc}")


def run(wrapper: list[str], body: str) -> dict[str, Any]:
    """Run ``body`` (which prints one JSON line) under ``wrapper``; return what it printed."""
    if shutil.which(wrapper[0]) is None:
        pytest.skip(f"{wrapper[0]} is not installed")
    done = subprocess.run(
        [*wrapper, sys.executable, "-c", PRELUDE + body],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_netlink_without_cap_net_admin_is_permission_denied() -> None:
    result = run(
        NOBODY,
        """
try:
    open_backend("netlink")
    print(json.dumps({"error": None}))
except Exception as exc:
    print(json.dumps(failure(exc)))
""",
    )
    assert result["error"] == "PermissionDeniedError"
    assert result["errno"] == errno.EPERM
    assert "CAP_NET_ADMIN" in result["message"]


def test_auto_without_cap_net_admin_falls_back_to_the_simulator() -> None:
    pytest.importorskip("tsmon_core.backends.sim", reason="the simulator is not written yet")
    result = run(
        NOBODY,
        """
backend = open_backend("auto")
print(json.dumps({"kind": backend.info.kind, "reason": backend.info.reason}))
backend.close()
""",
    )
    assert result["kind"] == "sim"
    assert "CAP_NET_ADMIN" in result["reason"]


def test_auto_as_root_picks_netlink() -> None:
    pytest.importorskip("tsmon_core.backends.sim", reason="the simulator is not written yet")
    from tsmon_core.backends import open_backend

    backend = open_backend("auto")
    try:
        assert backend.info.kind == "netlink" and backend.info.reason
    finally:
        backend.close()


def test_unprivileged_cgroupstats_works_but_listener_is_refused() -> None:
    v1 = next(
        (
            line.split()[1]
            for line in Path("/proc/self/mounts").read_text().splitlines()
            if line.split()[2] == "cgroup"
        ),
        None,
    )
    if v1 is None:
        pytest.skip("no cgroup v1 hierarchy mounted")
    result = run(
        NOBODY,
        f"""
from tsmon_core.netlink import ExitListenerSocket, TaskstatsSocket
sock = TaskstatsSocket()
fd = os.open({v1!r}, os.O_RDONLY | os.O_DIRECTORY)
counts = list(sock.cgroupstats(fd, {v1!r}))
try:
    ExitListenerSocket(sock.family_id, "0")
    listener = None
except Exception as exc:
    listener = failure(exc)
try:
    sock.query_pid(os.getpid())
    query = None
except Exception as exc:
    query = failure(exc)
print(json.dumps({{"counts": counts, "listener": listener, "query": query}}))
""",
    )
    assert len(result["counts"]) == 5 and sum(result["counts"]) >= 1  # the root cgroup has tasks
    for refused in (result["listener"], result["query"]):
        assert refused["error"] == "PermissionDeniedError" and refused["errno"] == errno.EPERM


def test_cap_net_admin_alone_is_enough() -> None:
    result = run(
        NET_ADMIN_ONLY,
        """
backend = open_backend("netlink")
listener = backend.open_listener()
print(json.dumps({"uid": os.getuid(), "kind": backend.info.kind,
                  "comm": backend.query_pid(os.getpid()).ac_comm,
                  "cpumask": listener.cpumask}))
listener.close()
backend.close()
""",
    )
    assert result["uid"] == 65534 and result["kind"] == "netlink"
    assert result["comm"].startswith("python")
    assert result["cpumask"] == Path("/sys/devices/system/cpu/possible").read_text().strip()


def test_listener_in_a_child_pid_namespace_is_a_namespace_error() -> None:
    result = run(
        ["unshare", "--pid", "--fork"],
        """
backend = open_backend("netlink")
own = backend.query_pid(os.getpid())  # queries resolve ids in the caller's namespace
try:
    backend.open_listener()
    listener = None
except Exception as exc:
    listener = failure(exc)
print(json.dumps({"pid": os.getpid(), "ac_pid": own.ac_pid, "listener": listener}))
""",
    )
    assert result["pid"] == result["ac_pid"] == 1
    assert result["listener"]["error"] == "NamespaceError"
    assert result["listener"]["errno"] == errno.EINVAL
    assert "namespace" in result["listener"]["message"]
