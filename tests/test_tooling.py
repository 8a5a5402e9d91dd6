"""The habits CI keeps: ``ruff check .`` and ``mypy gridplan`` pass with the configuration in pyproject.toml
(lint rules, docstrings on the public API, types). Each runs as the developer would run it, from the root."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=900)


def test_ruff_check_passes():
    r = _run("ruff", "check", ".", "--output-format", "concise", "--no-cache")
    assert r.returncode == 0, f"ruff check . found problems:\n{r.stdout}\n{r.stderr}"


@pytest.mark.slow
def test_mypy_gridplan_passes():
    r = _run("mypy", "gridplan")
    assert r.returncode == 0, f"mypy gridplan found errors:\n{r.stdout}\n{r.stderr}"
    assert "Success" in r.stdout


def test_the_linters_are_the_pinned_versions():
    """setup.sh --tests installs requirements-dev.txt; the versions there are the ones that pass."""
    pins = dict(line.split("==") for line in (ROOT / "requirements-dev.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    for tool in ("ruff", "mypy"):
        out = _run(tool, "--version").stdout
        assert pins[tool] in out, f"{tool} {out.strip()} is not the pinned {pins[tool]}; pip install -r requirements-dev.txt"
