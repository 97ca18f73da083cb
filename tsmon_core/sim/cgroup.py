"""The simulator's own /sys/fs/cgroup: cgroup v1 hierarchies plus a cgroup2 mount.

Nothing here touches the real filesystem. Paths resolve to a kind (a v1 directory, a v1
control file, a cgroup2 directory or file, or a plain tmpfs directory), which is what
cgroupstats_build() looks at; unknown paths do not exist (ENOENT).
"""

from __future__ import annotations

import posixpath

__all__ = ["CGROUP_ROOT", "CgroupFS", "Node"]

CGROUP_ROOT = "/sys/fs/cgroup"

# Hierarchies mounted by systemd in hybrid mode; "cpu" and "cpuacct" are symlinks.
_V1_HIERARCHIES = (
    "blkio",
    "cpu,cpuacct",
    "cpuset",
    "devices",
    "freezer",
    "memory",
    "net_cls,net_prio",
    "pids",
    "systemd",
)
_V1_LINKS = {
    "cpu": "cpu,cpuacct",
    "cpuacct": "cpu,cpuacct",
    "net_cls": "net_cls,net_prio",
    "net_prio": "net_cls,net_prio",
}
_V1_FILES = frozenset(
    {"tasks", "cgroup.procs", "notify_on_release", "cgroup.clone_children", "cgroup.event_control"}
)
_V1_CONTROLLER_FILES = {
    "cpu,cpuacct": ("cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpuacct.usage"),
    "memory": ("memory.usage_in_bytes", "memory.limit_in_bytes", "memory.stat"),
    "blkio": ("blkio.throttle.io_service_bytes", "blkio.weight"),
    "pids": ("pids.current", "pids.max"),
    "cpuset": ("cpuset.cpus", "cpuset.mems"),
    "devices": ("devices.list",),
    "freezer": ("freezer.state",),
}
_V2_FILES = frozenset(
    {
        "cgroup.procs",
        "cgroup.threads",
        "cgroup.controllers",
        "cgroup.subtree_control",
        "cgroup.events",
        "cgroup.type",
        "cpu.pressure",
        "io.pressure",
        "memory.pressure",
        "cpu.stat",
    }
)


class Node:
    """What a path is: ``kind`` is "v1dir", "v1file", "v2dir", "v2file" or "dir"."""

    __slots__ = ("group", "kind", "path")

    def __init__(self, kind: str, group: str, path: str) -> None:
        self.kind = kind
        self.group = group  # the cgroup ("/system.slice/cron.service"; "" for the root)
        self.path = path

    def __repr__(self) -> str:
        return f"Node({self.kind}, {self.path!r})"


class CgroupFS:
    """The cgroup tree: which groups exist and which threads are members of each.

    Every v1 hierarchy mirrors the same tree (as systemd arranges it), so a thread belongs to
    the same group in each. With ``cgroup2_root`` equal to /sys/fs/cgroup the machine is pure
    cgroup2 and has no v1 hierarchy at all.
    """

    def __init__(self, cgroup2_root: str = CGROUP_ROOT + "/unified") -> None:
        self.cgroup2_root = posixpath.normpath(cgroup2_root)
        self.pure_v2 = self.cgroup2_root == CGROUP_ROOT
        self.members: dict[str, set[int]] = {"": set()}
        for group in (
            "/init.scope",
            "/system.slice",
            "/user.slice/user-1000.slice/session-2.scope",
        ):
            self.add_group(group)  # what systemd creates at boot

    @staticmethod
    def norm(group: str) -> str:
        """A cgroup's canonical name: "" for the root, else "/a/b"."""
        group = posixpath.normpath("/" + group.strip("/"))
        return "" if group == "/" else group

    def add_group(self, group: str) -> str:
        """Create a cgroup and its parents ("/user.slice/user-1000.slice"); its name."""
        name = group = self.norm(group)
        while group and group not in self.members:
            self.members[group] = set()
            group = posixpath.dirname(group)
            group = "" if group == "/" else group
        return name

    def join(self, group: str, tid: int) -> None:
        """Put a thread into a cgroup (creating it if needed)."""
        members = self.members.get(group)
        if members is None:
            members = self.members[self.add_group(group)]
        members.add(tid)

    def leave(self, group: str, tid: int) -> None:
        """Take an exited thread out of its cgroup."""
        self.members.get(group, set()).discard(tid)

    def v1_paths(self) -> list[str]:
        """Every cgroup v1 directory, for help texts and tests."""
        if self.pure_v2:
            return []
        out = []
        for hierarchy in ("cpu", "memory", "blkio", "pids"):
            out += [f"{CGROUP_ROOT}/{hierarchy}{group}" for group in sorted(self.members)]
        return out

    def resolve(self, path: str) -> Node:
        """What ``path`` is; FileNotFoundError when it does not exist."""
        if not path.startswith("/"):
            raise FileNotFoundError(2, "No such file or directory", path)
        norm = posixpath.normpath(path)
        if norm.startswith("//"):
            norm = norm[1:]
        if norm in ("/", "/sys", "/sys/fs"):
            return Node("dir", "", norm)
        root2 = self.cgroup2_root
        if norm == root2 or norm.startswith(root2 + "/"):
            return self._lookup(norm, norm[len(root2) :], "v2", _V2_FILES)
        if norm == CGROUP_ROOT:
            return Node("dir", "", norm)
        if not norm.startswith(CGROUP_ROOT + "/") or self.pure_v2:
            raise FileNotFoundError(2, "No such file or directory", path)
        rest = norm[len(CGROUP_ROOT) + 1 :]
        name, _, sub = rest.partition("/")
        name = _V1_LINKS.get(name, name)
        if name not in _V1_HIERARCHIES:
            raise FileNotFoundError(2, "No such file or directory", path)
        files = _V1_FILES.union(_V1_CONTROLLER_FILES.get(name, ()))
        return self._lookup(norm, "/" + sub if sub else "", "v1", files)

    def _lookup(self, norm: str, rel: str, version: str, files: frozenset[str]) -> Node:
        rel = rel.rstrip("/")
        if rel in self.members:
            return Node(f"{version}dir", rel, norm)
        parent, leaf = posixpath.split(rel)
        parent = "" if parent == "/" else parent
        if parent in self.members and leaf in files:
            return Node(f"{version}file", parent, norm)
        raise FileNotFoundError(2, "No such file or directory", norm)
