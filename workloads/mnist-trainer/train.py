"""Défi 22's training: a small CNN on MNIST digits, DistributedDataParallel over gloo, one process per pod.

Kubeflow Trainer's torch policy gives every pod of a TrainJob the PET_* variables torchrun reads
(PET_NNODES, PET_NPROC_PER_NODE, PET_NODE_RANK, PET_MASTER_ADDR, PET_MASTER_PORT). Debian's torch
ships no torchrun and is built without libuv, so this script does torchrun's one job here itself:
rank 0 serves the rendezvous store (use_libuv=False), the other ranks connect to it (retrying while
the master's DNS name and port come up), then every rank joins the gloo process group.

Rank 0 writes to OUT/<job>/ (a PersistentVolume): model.pt (TorchScript, so whoever evaluates it
needs none of this code: input N x 1 x 28 x 28 grey levels in [0, 1], output N x 10 logits),
metrics.json (per-epoch loss and accuracy, world size, time) and data.json (the sha256 and count of
the digits it trained on). metrics.json is written last: its presence means the model is complete.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import hashlib
import json
import os
import socket
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F  # noqa: N812
from torch import nn

RECORD = 1 + 28 * 28  # a label byte, then 784 grey levels (see kubedefis/stack/mnist.py)


def log(rank: int, message: str) -> None:
    print(f"[rank {rank}] {message}", flush=True)


def load_digits(path: Path) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Images (N x 1 x 28 x 28, floats in [0, 1]), labels (N), and the sha256 of the records."""
    records = gzip.decompress(path.read_bytes())
    if not records or len(records) % RECORD:
        raise SystemExit(f"{path}: {len(records)} bytes is not a whole number of {RECORD}-byte records")
    table = torch.frombuffer(bytearray(records), dtype=torch.uint8).view(-1, RECORD)
    labels = table[:, 0].long()
    images = table[:, 1:].float().div(255).view(-1, 1, 28, 28)
    return images, labels, hashlib.sha256(records).hexdigest()


class DigitNet(nn.Module):
    """Two convolutions, two dense layers; normalises its own input (so the saved model takes raw [0, 1])."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)
        self.dropout = nn.Dropout(0.25)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - 0.1307) / 0.3081
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = self.dropout(torch.flatten(x, 1))
        return self.fc2(self.dropout(F.relu(self.fc1(x))))


def rendezvous(timeout: float) -> tuple[int, int]:
    """Join the gloo process group from the PET_* variables; returns (rank, world size)."""
    nnodes = int(os.environ.get("PET_NNODES", "1"))
    nproc = int(os.environ.get("PET_NPROC_PER_NODE", "1"))
    if nproc != 1:
        raise SystemExit(f"PET_NPROC_PER_NODE={nproc}: this script runs one process per pod (give numProcPerNode: 1)")
    rank = int(os.environ.get("PET_NODE_RANK", "0"))
    world = nnodes * nproc
    master = os.environ.get("PET_MASTER_ADDR", "127.0.0.1")
    port = int(os.environ.get("PET_MASTER_PORT", "29500"))
    log(rank, f"host {socket.gethostname()}: rank {rank} of {world}, master {master}:{port}")
    deadline = time.monotonic() + timeout
    wait = datetime.timedelta(seconds=timeout)
    while True:
        try:
            # Rank 0 listens on every address (the master name is only for the others to connect).
            store = dist.TCPStore(master, port, world, rank == 0, timeout=wait, use_libuv=False)
            break
        except (RuntimeError, OSError) as exc:  # the master's name not yet in DNS, or not listening yet
            if time.monotonic() > deadline:
                message = f"rank {rank}: no rendezvous with {master}:{port} within {timeout:.0f}s: {exc}"
                raise SystemExit(message) from exc
            log(rank, f"waiting for the master: {str(exc).splitlines()[0][:120]}")
            time.sleep(2)
    dist.init_process_group("gloo", store=store, rank=rank, world_size=world, timeout=wait)
    joined = torch.ones(1)
    dist.all_reduce(joined)  # every rank contributes 1: the sum is the number of ranks that joined
    log(rank, f"joined the process group: rank {rank} of {world}, all_reduce saw {int(joined.item())} ranks")
    if int(joined.item()) != world:
        raise SystemExit(f"rank {rank}: all_reduce saw {int(joined.item())} ranks, expected {world}")
    return rank, world


def shard(count: int, rank: int, world: int, epoch: int, seed: int) -> torch.Tensor:
    """This rank's indices for one epoch: the same permutation everywhere, every world-th index (padded even)."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed + epoch))
    per_rank = -(-count // world)
    order = torch.cat([order, order[: per_rank * world - count]])
    return order[rank::world]


def train(args: argparse.Namespace) -> int:
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    rank, world = rendezvous(args.rendezvous_timeout)
    try:
        return train_in_group(args, rank, world)
    finally:
        dist.destroy_process_group()


def train_in_group(args: argparse.Namespace, rank: int, world: int) -> int:
    images, labels, digest = load_digits(args.data)
    if args.shuffle_labels:  # a control for the grader: a model trained on wrong labels must fail it
        labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(7))]
    log(rank, f"{len(labels)} training digits, sha256 {digest}")
    torch.manual_seed(args.seed)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    model = nn.parallel.DistributedDataParallel(DigitNet())
    optimiser = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=args.epochs)
    history = []
    started = time.monotonic()
    for epoch in range(args.epochs):
        model.train()
        indices = shard(len(labels), rank, world, epoch, args.seed)
        seen, correct, total_loss = 0, 0, 0.0
        for start in range(0, len(indices), args.batch_size):
            batch = indices[start : start + args.batch_size]
            x, y = images[batch], labels[batch]
            optimiser.zero_grad()
            out = model(x)
            loss = F.cross_entropy(out, y)
            loss.backward()  # DDP averages the gradients over the ranks here (gloo all_reduce)
            optimiser.step()
            seen += len(batch)
            correct += int((out.argmax(1) == y).sum())
            total_loss += float(loss) * len(batch)
        schedule.step()
        totals = torch.tensor([seen, correct, total_loss], dtype=torch.float64)
        dist.all_reduce(totals)
        entry = {
            "epoch": epoch + 1,
            "loss": round(float(totals[2] / totals[0]), 4),
            "train_accuracy": round(float(totals[1] / totals[0]), 4),
            "seconds": round(time.monotonic() - started, 1),
        }
        history.append(entry)
        log(rank, f"epoch {entry['epoch']}/{args.epochs}: {json.dumps(entry)}")
    if rank == 0 and not args.no_save:
        save(args, model.module, history, digest, len(labels), world)
    dist.barrier()
    log(rank, f"done in {time.monotonic() - started:.1f}s")
    return 0


def save(args: argparse.Namespace, model: nn.Module, history: list[dict], digest: str, count: int, world: int) -> None:
    folder = args.out / args.job
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("metrics.json", "model.pt", "data.json"):  # a rerun replaces a previous model whole
        (folder / name).unlink(missing_ok=True)
    model.eval()
    scripted = torch.jit.script(model)
    scripted.save(str(folder / "model.pt.partial"))
    (folder / "model.pt.partial").rename(folder / "model.pt")
    (folder / "data.json").write_text(json.dumps({"sha256": digest, "count": count, "file": str(args.data)}) + "\n")
    metrics = {"world_size": world, "epochs": history, "batch_size": args.batch_size, "lr": args.lr}
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    log(0, f"saved {folder}/model.pt, data.json, metrics.json")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/data/mnist/train.bin.gz"))
    parser.add_argument("--out", type=Path, default=Path("/models"))
    parser.add_argument("--job", default=os.environ.get("TRAINJOB_NAME", "mnist"), help="sub-folder of --out")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64, help="per rank")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument("--rendezvous-timeout", type=float, default=300.0)
    parser.add_argument("--shuffle-labels", action="store_true", help="control: train on shuffled labels")
    parser.add_argument("--no-save", action="store_true", help="control: train but save nothing")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(train(parse(sys.argv[1:])))
