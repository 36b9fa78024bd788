"""Every deadline of the suite, in one place; KUBEDEFIS_TIMEOUT_SCALE stretches them all (slow clusters)."""

from __future__ import annotations

import os

SCALE = float(os.environ.get("KUBEDEFIS_TIMEOUT_SCALE", "1"))

POD_READY = 180 * SCALE  # pull-free start of a small image, on a loaded 2-core machine
ROLLOUT = 300 * SCALE  # a Deployment rollout of 3 pods
DATABASE_READY = 240 * SCALE  # initdb + start of PostgreSQL, PVC provisioning included
JOB = 300 * SCALE  # migrations, backups, restores
HTTP_READY = 120 * SCALE  # an Ingress or Service route starting to answer
HELM = 600 * SCALE  # helm install/upgrade --wait of the whole stack
PROXY_START = 30 * SCALE  # kubectl proxy / port-forward printing their port
RESTART = 120 * SCALE  # kubelet restarting a container after a failed liveness probe
NETWORK_PROBE = 8  # one connection attempt that a NetworkPolicy should block (not scaled)
