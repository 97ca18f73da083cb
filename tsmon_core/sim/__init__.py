"""A simulated kernel/taskstats.c and a seeded workload to run on it.

``SimKernel`` answers netlink request bytes with the reply datagrams the kernel would send;
``Workload`` starts, runs and ends tasks on its virtual clock. The simulated backend
(tsmon_core.backends.sim) puts them behind the Backend protocol.
"""

from .cgroup import CgroupFS
from .kernel import NetlinkSocket, SimKernel, parse_cpulist, skb_truesize
from .task import PROFILES, Process, Profile, Task
from .workload import Workload

__all__ = [
    "PROFILES",
    "CgroupFS",
    "NetlinkSocket",
    "Process",
    "Profile",
    "SimKernel",
    "Task",
    "Workload",
    "parse_cpulist",
    "skb_truesize",
]
