"""Process settings: the cycle collector's thresholds."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from tsmon_core import runtime


@pytest.fixture
def untuned(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    saved = gc.get_threshold()
    monkeypatch.setattr(runtime, "_tuned", False)
    gc.set_threshold(700, saved[1], saved[2])
    yield
    gc.unfreeze()
    gc.set_threshold(*saved)


def test_tune_gc_raises_the_young_threshold_and_freezes_what_is_loaded(untuned: None) -> None:
    runtime.tune_gc()
    assert gc.get_threshold()[0] == runtime.GEN0_THRESHOLD
    frozen = gc.get_freeze_count()
    assert frozen > 1000
    runtime.tune_gc()  # once per process
    assert gc.get_freeze_count() == frozen


def test_every_command_runs_tuned(untuned: None) -> None:
    from tsmon.cli import cli

    result = CliRunner().invoke(cli, ["delayacct", "status", "--backend", "sim"])
    assert result.exit_code == 0, result.output
    assert gc.get_threshold()[0] == runtime.GEN0_THRESHOLD
