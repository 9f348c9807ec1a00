"""Locating the shared upstream fixtures (read-only, beside the repository)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
TINY = FIXTURES / "bert-vits2-v2.3-tiny"
NUM_CASES = 6


def require(path: Path) -> Path:
    """``path`` if it exists; else skip with the reason, or fail when CI is set (CI always has
    ../shared beside the clone, so a missing fixture there is a broken setup, not a skip)."""
    if not path.exists():
        reason = f"upstream fixture {path} is absent (expected ../shared/fixtures beside the repo)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so this is an error, not a skip")
        pytest.skip(reason)
    return path


def reference_cases() -> list[dict[str, np.ndarray]]:
    data = np.load(require(TINY / "reference.npz"))
    cases = []
    for i in range(NUM_CASES):
        prefix = f"case{i}/"
        cases.append({k[len(prefix) :]: data[k] for k in data.files if k.startswith(prefix)})
    return cases
