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
NETWORK_PROBE = 20  # window of connection attempts a probe pod must see all blocked
# Window for a connection a policy admits: the first success ends it, so it may be long. A new pod's
# address reaches the policy agent's sets (kube-router here) after a sync that took over 20 s on a
# busy 2-core node: until then the agent refuses the pod like any stranger.
NETWORK_ALLOWED = 90 * SCALE

# Défis 12-16 (PostgreSQL replication, cache, hooks, backups).
REPLICATION_VISIBLE = 2.0  # a committed row readable on every replica: the requirement itself, not scaled
REPLICA_REBUILD = 300 * SCALE  # a replica deleted with its volume: new claim, base backup, streaming again
FAILOVER = 120 * SCALE  # `kubedefis db promote`: candidate chosen, promoted, write Service repointed
# Longest write gap on failover: the course sets none; our stack 3-11.6 s (2 cores, 3 lanes running).
FAILOVER_WRITE_GAP = 15.0 * SCALE
REJOIN = 300 * SCALE  # a former primary rewound (or copied again) and streaming from the new one
SQL = 60 * SCALE  # one psql call through kubectl exec

# Défis 8, 9, 17-20 (load, autoscaling, attacks, releases, schema changes).
LOAD_WARMUP = 20.0  # seconds of steady load measured before a change starts (not scaled)
LOAD_SPAWN = 90 * SCALE  # Locust starting its users (each fetches a few setup requests)
HPA_SCALE_OUT = 300 * SCALE  # metrics-server's first samples + HPA sync (15 s) + pods starting
HPA_SCALE_IN = 300 * SCALE  # the scale-down stabilisation window (30 s in défi 9) + metrics lag
ATTACK = 90.0  # seconds an attack lasts (not scaled: the same attack everywhere)
RELEASE = 900 * SCALE  # `kubedefis release`: staging install, conformance subset, helm test, promotion

# Défi 22 (Kubeflow Trainer, MNIST). Measured on the 2-core machine: see defis/defi22/answers.md.
KUBEFLOW_INSTALL = 300 * SCALE  # helm install of the trainer and JobSet, both controllers Available (certs made)
TRAINJOB_COMPLETE = 600 * SCALE  # a 2-pod TrainJob: pods start, rendezvous, 8 epochs on 8,000 digits, model saved
TRAINJOB_FAILED = 180 * SCALE  # a TrainJob whose command exits non-zero: its JobSet and then it marked Failed
UNSCHEDULABLE = 60 * SCALE  # the scheduler reporting a pod it cannot place
EVALUATION = 300 * SCALE  # the grader's pod loading the model and scoring the held-out digits

# Défi 21 (KubeVirt). Guests run under QEMU's emulation here (no usable KVM): slow boots.
KUBEVIRT_INSTALL = 600 * SCALE  # operator Available, then API, controller, handler up: CR Deployed (119 s here)
VM_READY = 300 * SCALE  # VirtualMachine created -> launcher pod scheduled, QEMU started, VMI Ready (15-21 s here)
VM_BOOT = 300 * SCALE  # under emulation: kernel, systemd, cloud-init, sshd (SSH banner 73-76 s after creation here)
VM_ADMISSION = 60 * SCALE  # one more VM: virt-controller creates its VMI and launcher pod, or a quota refuses them
CONSOLE_ANSWER = 60 * SCALE  # Enter on a booted guest's serial console -> its getty's login prompt back
