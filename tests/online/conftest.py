"""The fixtures every online test module shares: its mirror and the environment of its online runs.

A module names its own kind cluster and ports (CLUSTER, HTTP_PORT, HTTPS_PORT) and may define
`mirror_more()` (further images the mirror serves: local image -> path in the registry, made once
the registry runs) and `mirror_forget()` (images to untag besides the upstream ones). A module that
installs an add-on online names it (ADDON: `kubedefis ADDON install`) and its INSTALL_TIMEOUT.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mirror import Mirror, mirrored, run_online
from mirror import online_env as environment


@pytest.fixture(scope="module")
def mirror(request: pytest.FixtureRequest) -> Iterator[Mirror]:
    """The mirror, dockerd asking it first; the module's cluster deleted and the host put back at the end."""
    module = request.module
    forget = getattr(module, "mirror_forget", list)()
    with mirrored(module.CLUSTER, more=getattr(module, "mirror_more", dict), forget=forget) as served:
        yield served


@pytest.fixture(scope="module")
def online_env(request: pytest.FixtureRequest, mirror: Mirror) -> dict[str, str]:
    """The environment of a kubedefis command run online on the module's cluster, through the mirror."""
    module = request.module
    return environment(mirror, module.CLUSTER, module.HTTP_PORT, module.HTTPS_PORT)


@pytest.fixture(scope="module")
def installed(request: pytest.FixtureRequest, online_env: dict[str, str]) -> tuple[str, float]:
    """`kubedefis ADDON install` run online, which must succeed: (the tails of its output, seconds)."""
    addon = request.module.ADDON
    _, output, seconds = run_online([addon, "install"], online_env, request.module.INSTALL_TIMEOUT, f"{addon} install")
    return output, seconds
