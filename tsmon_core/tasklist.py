"""Every live thread from /proc, a process's threads listed again only when they may differ.

Listing ``/proc/PID/task`` costs the kernel a dentry lookup per thread (about 3 µs each: most
of a refresh's listing for a process of thousands of threads), while the directory's link
count is ``2 + threads`` (``proc_task_getattr``) and costs one stat. A process whose count
is unchanged keeps its last listing; the caller proves it with the queries that follow (a
listed thread that no longer answers means threads came and went) and asks for ``relist``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

__all__ = ["ThreadLister", "list_threads"]


def list_threads(proc: str = "/proc") -> dict[int, int]:
    """Every live thread, tid -> tgid, listed afresh (vanishing entries are skipped)."""
    tasks: dict[int, int] = {}
    listdir = os.listdir
    for name in listdir(proc):
        if not name.isdigit():
            continue
        try:
            tids = listdir(f"{proc}/{name}/task")
        except OSError:
            continue  # exited since /proc was listed
        tasks.update(dict.fromkeys(map(int, tids), int(name)))
    return tasks


class ThreadLister:
    """tid -> tgid of every live thread, reusing the listing of processes that kept their
    thread count."""

    def __init__(self, proc: str = "/proc") -> None:
        self._proc = proc
        # tgid -> (link count of /proc/PID/task when listed, its tids)
        self._groups: dict[int, tuple[int, list[int]]] = {}

    def list(self) -> tuple[dict[int, int], set[int]]:
        """Every thread (tid -> tgid), and the tgids whose threads came from the last listing
        (to be confirmed by the caller: see ``relist``)."""
        proc = self._proc
        listdir, stat = os.listdir, os.stat
        last = self._groups
        groups: dict[int, tuple[int, list[int]]] = {}
        tasks: dict[int, int] = {}
        reused: set[int] = set()
        for name in listdir(proc):
            if not name.isdigit():
                continue
            tgid = int(name)
            path = f"{proc}/{name}/task"
            try:
                links = stat(path).st_nlink  # before listing: a change after it shows next time
                known = last.get(tgid)
                if known is not None and known[0] == links:
                    tids = known[1]
                    reused.add(tgid)
                else:
                    tids = list(map(int, listdir(path)))
            except OSError:
                continue  # exited since /proc was listed
            groups[tgid] = (links, tids)
            tasks.update(dict.fromkeys(tids, tgid))
        self._groups = groups
        return tasks, reused

    def relist(self, tgids: Iterable[int]) -> dict[int, int]:
        """List these processes' threads afresh (a reused listing proved stale); tid -> tgid."""
        tasks: dict[int, int] = {}
        for tgid in tgids:
            path = f"{self._proc}/{tgid}/task"
            try:
                links = os.stat(path).st_nlink
                tids = list(map(int, os.listdir(path)))
            except OSError:
                self._groups.pop(tgid, None)
                continue
            self._groups[tgid] = (links, tids)
            tasks.update(dict.fromkeys(tids, tgid))
        return tasks
