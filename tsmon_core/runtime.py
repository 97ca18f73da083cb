"""Process settings for a program that samples many tasks for a long time."""

from __future__ import annotations

import gc

__all__ = ["GEN0_THRESHOLD", "tune_gc"]

#: Allocations between two young-generation collections (CPython's default is 700).
GEN0_THRESHOLD = 20_000
_tuned = False


def tune_gc() -> None:
    """Let the cycle collector run less often, and never over what is loaded already.

    A refresh makes two tuples per task (its record and its row) that live a refresh or two
    and are freed by reference counting: they hold no cycles. With the default threshold the
    collector traversed each of them two or three times before it died, about a fifth of a
    refresh's CPU at 2,000 threads. Objects that exist now (modules, the UI) are frozen out of
    its reach.
    """
    global _tuned
    if _tuned:
        return  # once: a later freeze would keep whatever garbage exists by then
    _tuned = True
    gc.freeze()  # no collection first: it would cost start-up ~8 ms for little garbage
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
