"""Locating the shared upstream fixtures (read-only, beside the repository)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
TINY = FIXTURES / "bert-vits2-v2.3-tiny"
NUM_CASES = 6


def require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(
            f"upstream fixture {path} is absent (expected ../shared/fixtures beside the repo)"
        )
    return path


def reference_cases() -> list[dict[str, np.ndarray]]:
    data = np.load(require(TINY / "reference.npz"))
    cases = []
    for i in range(NUM_CASES):
        prefix = f"case{i}/"
        cases.append({k[len(prefix) :]: data[k] for k in data.files if k.startswith(prefix)})
    return cases
