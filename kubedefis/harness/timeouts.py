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
NAMESPACE_DELETE = 180 * SCALE  # pods terminating (grace periods) before the namespace goes
NETWORK_PROBE = 20  # window of connection attempts from a probe pod (policy programming lag included)

# Défis 12-16 (PostgreSQL replication, cache, hooks, backups).
REPLICATION_VISIBLE = 2.0  # a committed row readable on every replica: the requirement itself, not scaled
REPLICA_REBUILD = 300 * SCALE  # a replica deleted with its volume: new claim, base backup, streaming again
FAILOVER = 120 * SCALE  # `kubedefis db promote`: candidate chosen, promoted, write Service repointed
FAILOVER_WRITE_GAP = 10.0  # longest write gap allowed on failover (CloudNativePG's bar on kind), not scaled
REJOIN = 300 * SCALE  # a former primary rewound (or copied again) and streaming from the new one
SQL = 60 * SCALE  # one psql call through kubectl exec

# Défis 8, 9, 17-20 (load, autoscaling, attacks, releases, schema changes).
LOAD_WARMUP = 20.0  # seconds of steady load measured before a change starts (not scaled)
LOAD_SPAWN = 90 * SCALE  # Locust starting its users (each fetches a few setup requests)
HPA_SCALE_OUT = 300 * SCALE  # metrics-server's first samples + HPA sync (15 s) + pods starting
HPA_SCALE_IN = 300 * SCALE  # the scale-down stabilisation window (30 s in défi 9) + metrics lag
ATTACK = 90.0  # seconds an attack lasts (not scaled: the same attack everywhere)
RELEASE = 900 * SCALE  # `kubedefis release`: staging install, conformance subset, helm test, promotion
