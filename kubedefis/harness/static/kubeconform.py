"""Schema validation of manifests with kubeconform (-strict), against our offline schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from kubedefis.core import versions
from kubedefis.core.findings import Finding
from kubedefis.core.shell import run
from kubedefis.harness.static import schemas


def validate(objects: list[dict[str, Any]], kubeconform: Path) -> list[Finding]:
    """Each object kubeconform rejects (unknown field, wrong type, missing schema) as a Finding."""
    schemas.generate()
    text = yaml.safe_dump_all(objects, sort_keys=False)
    proc = run(
        [
            str(kubeconform),
            "-strict",
            "-output",
            "json",
            "-kubernetes-version",
            versions.KUBERNETES.removeprefix("v"),
            "-schema-location",
            schemas.location(),
            "-",
        ],
        input=text,
        check=False,
    )
    report = json.loads(proc.stdout or "{}")
    findings = []
    for resource in report.get("resources", []):
        if resource.get("status") in ("statusInvalid", "statusError", "statusSkipped"):
            where = f"{resource.get('kind')}/{resource.get('name')}"
            findings.append(
                Finding(
                    where,
                    "a manifest valid against the Kubernetes schema",
                    resource.get("msg") or resource.get("status"),
                )
            )
    if proc.returncode not in (0, 1) or (proc.returncode == 1 and not findings):
        findings.append(Finding("kubeconform", "a validation report", (proc.stderr or proc.stdout)[-500:]))
    return findings
