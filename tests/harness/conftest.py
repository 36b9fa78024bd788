"""The broken-stack variants: each declares the requirement ids it breaks (`breaks`), which its run must fail.

`python -m tests.harness.coverage` reads those declarations to list which requirement of défis 1-20
has a variant that breaks it alone.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "breaks(*ids): the requirement ids a broken-stack variant makes fail; its run must fail exactly those",
    )
