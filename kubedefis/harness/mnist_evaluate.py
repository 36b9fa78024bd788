"""The grader's own evaluation of a saved MNIST model (défi 22): run in a pod, never imported here.

The conformance module ships this file and the held-out digits (which the training image does not
contain) in a ConfigMap, and runs it with the training image's Python and torch beside the model's
volume. It trusts nothing the job wrote about itself: it loads the TorchScript model, scores every
held-out digit, and prints one JSON line with the accuracy it measured and, apart, what the job
claimed (data.json, metrics.json) for the grader to compare.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
from pathlib import Path

RECORD = 1 + 28 * 28


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args(argv)

    import torch  # only in the training image

    torch.set_num_threads(1)
    result: dict[str, object] = {"model_dir": str(args.model_dir)}
    for name in ("data.json", "metrics.json"):
        path = args.model_dir / name
        result[name] = json.loads(path.read_text()) if path.exists() else None
    model_path = args.model_dir / "model.pt"
    if not model_path.exists():
        result["error"] = f"no model at {model_path}"
        print(json.dumps(result))
        return 0
    result["model_sha256"] = hashlib.sha256(model_path.read_bytes()).hexdigest()
    records = gzip.decompress(args.data.read_bytes())
    table = torch.frombuffer(bytearray(records), dtype=torch.uint8).view(-1, RECORD)
    labels = table[:, 0].long()
    images = table[:, 1:].float().div(255).view(-1, 1, 28, 28)
    model = torch.jit.load(str(model_path))
    model.eval()
    with torch.no_grad():
        predicted = torch.cat([model(images[i : i + 500]).argmax(1) for i in range(0, len(labels), 500)])
    right = predicted == labels
    result.update(
        {
            "count": len(labels),
            "data_sha256": hashlib.sha256(records).hexdigest(),
            "correct": int(right.sum()),
            "accuracy": float(right.float().mean()),
            "per_class": {str(c): float(right[labels == c].float().mean()) for c in range(10)},
        }
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
