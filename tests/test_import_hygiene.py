"""tsmon_core stays UI-free, and the report/batch paths never load Textual."""

from __future__ import annotations

import subprocess
import sys

import pytest

UI = ("textual", "rich", "click")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line.split(".")[0] for line in out.splitlines()}


def test_core_imports_no_ui() -> None:
    loaded = _modules_after(
        "import tsmon_core, tsmon_core.sampler, tsmon_core.metrics, tsmon_core.backends"
    )
    assert "tsmon_core" in loaded
    for name in UI:
        assert name not in loaded, f"tsmon_core pulled in {name}"
    assert "tsmon" not in loaded


def test_core_sources_name_no_ui_package() -> None:
    from pathlib import Path

    import tsmon_core

    root = Path(tsmon_core.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        for line in path.read_text().splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] in ("import", "from"):
                top = words[1].split(".")[0]
                if top in (*UI, "tsmon"):
                    offenders.append(f"{path.name}: {line.strip()}")
    assert offenders == []


def test_cli_entry_point_loads_no_textual() -> None:
    loaded = _modules_after("import tsmon.cli")
    assert "textual" not in loaded


def test_the_package_opens_backends_by_name() -> None:
    """``tsmon_core.open_backend`` is the documented entry point (no submodule to know)."""
    import tsmon_core

    backend = tsmon_core.open_backend("sim", seed=3)
    try:
        assert backend.info.kind == "sim"
        tid = next(iter(backend.list_tasks()))
        assert isinstance(backend.query_pid(tid), tsmon_core.TaskStats)
    finally:
        backend.close()
    with pytest.raises(ValueError, match="unknown backend"):
        tsmon_core.open_backend("nonsense")
