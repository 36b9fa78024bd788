"""Figures measured by the conformance tests (replication lag, failover write gap, restore time...).

The `record` fixture keeps a figure with the test's result (`user_properties`, which the
report shows) and appends it to reports/measures.jsonl, so the numbers quoted in the défis'
answers can be traced to a run. The suite's plugin provides it to every test.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kubedefis.core import paths


def measures_file() -> Path:
    return Path(os.environ.get("KUBEDEFIS_MEASURES", paths.REPO_ROOT / "reports" / "measures.jsonl"))


def keep(nodeid: str, name: str, value: Any) -> None:
    """Append one figure of test `nodeid` to measures.jsonl."""
    line = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "test": nodeid, name: value}
    file = measures_file()
    file.parent.mkdir(parents=True, exist_ok=True)
    with file.open("a") as out:
        out.write(json.dumps(line, default=str) + "\n")


def recorder(request: pytest.FixtureRequest) -> Callable[[str, Any], None]:
    """`record(name, value)`: keep a measured figure of this test."""

    def record(name: str, value: Any) -> None:
        request.node.user_properties.append((name, value))
        keep(request.node.nodeid, name, value)
        print(f"measured {name} = {value}")

    return record
