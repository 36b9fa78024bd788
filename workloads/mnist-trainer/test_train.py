"""train.py on its own, without a cluster: one process (world size 1), small synthetic digits.

Runs wherever torch is importable: inside the training image
(`docker run --rm -v "$PWD/workloads/mnist-trainer:/w:ro" -w /w kubedefis/mnist-trainer:0.1.0 python3 -m unittest -v`),
and is skipped elsewhere (the project's venv has no torch: PyPI's needs the CUDA wheels).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import random
import socket
import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).parent))

try:
    import torch
except ImportError:  # pragma: no cover - the venv
    torch = None

RECORD = 1 + 28 * 28


def synthetic_digits(count: int, seed: int = 1) -> bytes:
    """Records a CNN learns in one epoch: class c is a bright horizontal bar on row 2 + 2c, with noise."""
    rng = random.Random(seed)
    out = bytearray()
    for index in range(count):
        label = index % 10
        pixels = [rng.randrange(0, 40) for _ in range(28 * 28)]
        row = 2 + 2 * label
        for col in range(4, 24):
            pixels[row * 28 + col] = 255
        out += bytes([label, *pixels])
    return bytes(out)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@unittest.skipIf(torch is None, "torch is not installed here (it is in the training image)")
class TrainOneProcess(unittest.TestCase):
    def run_train(self, folder: Path, *extra: str) -> tuple[int, str]:
        import train

        env = {
            "PET_NNODES": "1",
            "PET_NPROC_PER_NODE": "1",
            "PET_NODE_RANK": "0",
            "PET_MASTER_ADDR": "127.0.0.1",
            "PET_MASTER_PORT": str(free_port()),
        }
        args = ["--data", str(folder / "train.bin.gz"), "--out", str(folder / "models"), "--job", "unit"]
        args += ["--epochs", "2", "--batch-size", "32", "--rendezvous-timeout", "30", *extra]
        printed = io.StringIO()
        with mock.patch.dict(os.environ, env), contextlib.redirect_stdout(printed):
            code = train.train(train.parse(args))
        return code, printed.getvalue()

    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.folder = Path(self.tmp.name)
        self.records = synthetic_digits(400)
        (self.folder / "train.bin.gz").write_bytes(gzip.compress(self.records))

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def test_saves_a_scripted_model_its_data_checksum_and_metrics(self) -> None:
        code, printed = self.run_train(self.folder)
        self.assertEqual(code, 0)
        self.assertIn("joined the process group: rank 0 of 1, all_reduce saw 1 ranks", printed)
        out = self.folder / "models" / "unit"
        data = json.loads((out / "data.json").read_text())
        self.assertEqual(data["sha256"], hashlib.sha256(self.records).hexdigest())
        self.assertEqual(data["count"], 400)
        metrics = json.loads((out / "metrics.json").read_text())
        self.assertEqual(metrics["world_size"], 1)
        self.assertEqual([e["epoch"] for e in metrics["epochs"]], [1, 2])
        # The saved model stands alone (TorchScript) and has learnt the bars: checked on fresh digits.
        model = torch.jit.load(str(out / "model.pt"))
        fresh = torch.frombuffer(bytearray(synthetic_digits(100, seed=2)), dtype=torch.uint8).view(-1, RECORD)
        images = fresh[:, 1:].float().div(255).view(-1, 1, 28, 28)
        with torch.no_grad():
            accuracy = float((model(images).argmax(1) == fresh[:, 0].long()).float().mean())
        self.assertGreaterEqual(accuracy, 0.9)

    def test_no_save_leaves_no_model(self) -> None:
        code, _ = self.run_train(self.folder, "--no-save")
        self.assertEqual(code, 0)
        self.assertFalse((self.folder / "models" / "unit" / "model.pt").exists())

    def test_refuses_a_truncated_data_file(self) -> None:
        (self.folder / "train.bin.gz").write_bytes(gzip.compress(self.records[:-1]))
        with self.assertRaises(SystemExit):
            self.run_train(self.folder)

    def test_shards_cover_every_digit_once_per_epoch(self) -> None:
        import train

        shards = [train.shard(10, rank, 3, epoch=0, seed=1) for rank in range(3)]
        self.assertEqual({len(s) for s in shards}, {4})  # padded to the same number of steps
        self.assertEqual(set(torch.cat(shards).tolist()), set(range(10)))


if __name__ == "__main__":
    unittest.main()
