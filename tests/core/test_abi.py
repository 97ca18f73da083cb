"""The field tables against the offsets gcc measured on the kernel's own headers."""

from __future__ import annotations

import pytest

from tsmon_core import abi
from tsmon_core.model import TaskStats

PADDING = {"padding", "ac_pad"}


@pytest.mark.parametrize("version", range(1, 18))
def test_every_field_at_the_reference_offset(version: int, offsets) -> None:
    reference = offsets[version]
    layout = abi.LAYOUTS[version]
    assert layout.size == reference["__sizeof__"][1] == layout.struct.size
    ours = {name: offset for name, _, offset in layout.fields}
    theirs = {name: off for name, (off, _) in reference.items() if name not in PADDING}
    theirs.pop("__sizeof__")
    assert ours == theirs


def test_sizes_named_in_the_issue() -> None:
    sizes = {v: abi.LAYOUTS[v].size for v in (14, 15, 16, 17)}
    assert sizes == {14: 432, 15: 560, 16: 560, 17: 688}


def test_v15_and_v16_share_a_size_but_not_a_layout() -> None:
    v15, v16 = abi.LAYOUTS[15], abi.LAYOUTS[16]
    assert v15.size == v16.size
    assert dict((n, o) for n, _, o in v15.fields)["cpu_delay_max"] == 32
    assert dict((n, o) for n, _, o in v16.fields)["cpu_delay_max"] == 432
    assert not v15.prefix and v16.prefix


def test_record_type_names_every_kernel_field() -> None:
    for name in abi.RECORD_FIELDS:
        assert name in TaskStats.__annotations__
    assert len(abi.RECORD_FIELDS) == 79


def test_cgroupstats_layout(offsets) -> None:
    from tests.conftest import DATA

    line = (DATA / "cgroupstats_offsets.txt").read_text()
    assert "sizeof=40" in line
    for i, name in enumerate(abi.CGROUPSTATS_FIELDS):
        assert f"{name}={8 * i}" in line
    assert "CMD_GET=4" in line and abi.CGROUPSTATS_CMD_GET == 4


def test_cpumask_maxlen_matches_the_measured_limit() -> None:
    assert abi.cpumask_maxlen(256) == 1636
