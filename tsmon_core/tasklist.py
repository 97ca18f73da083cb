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
    return ThreadLister(proc).listing()[0]


class ThreadLister:
    """tid -> tgid of every live thread, reusing the listing of processes that kept their
    thread count."""

    def __init__(self, proc: str = "/proc") -> None:
        self._proc = proc
        # tgid -> (link count of /proc/PID/task when listed, its tids)
        self._groups: dict[int, tuple[int, list[int]]] = {}

    def listing(self) -> tuple[dict[int, int], set[int]]:
        """Every thread (tid -> tgid), and the tgids whose threads came from the last listing
        (to be confirmed by the caller: see ``relist``)."""
        last = self._groups
        groups: dict[int, tuple[int, list[int]]] = {}
        tasks: dict[int, int] = {}
        reused: set[int] = set()
        for name in os.listdir(self._proc):
            if not name.isdigit():
                continue
            tgid = int(name)
            known = last.get(tgid)
            try:
                links = self._links(tgid)
                if known is not None and known[0] == links:
                    group = known
                    reused.add(tgid)
                else:
                    group = (links, self._tids(tgid))
            except OSError:
                continue  # exited since /proc was listed
            groups[tgid] = group
            tasks.update(dict.fromkeys(group[1], tgid))
        self._groups = groups
        return tasks, reused

    def relist(self, tgids: Iterable[int]) -> dict[int, int]:
        """List these processes' threads afresh (a reused listing proved stale); tid -> tgid."""
        tasks: dict[int, int] = {}
        for tgid in tgids:
            try:
                group = (self._links(tgid), self._tids(tgid))
            except OSError:
                self._groups.pop(tgid, None)
                continue
            self._groups[tgid] = group
            tasks.update(dict.fromkeys(group[1], tgid))
        return tasks

    def _links(self, tgid: int) -> int:
        """The link count of a process's task directory: 2 + its threads (taken before the
        listing: a change after it shows at the next refresh)."""
        return os.stat(f"{self._proc}/{tgid}/task").st_nlink

    def _tids(self, tgid: int) -> list[int]:
        """A process's thread ids, listed."""
        return list(map(int, os.listdir(f"{self._proc}/{tgid}/task")))
