"""One local training epoch of the MNIST MLP on one party's shard (5,500 images, in the order of
the shared order file): samples per second. Prints one JSON object."""
import argparse
import time

from common import add_common_flags, add_mlp_flags, limit_threads

parser = argparse.ArgumentParser(description=__doc__)
add_common_flags(parser)
add_mlp_flags(parser)
parser.add_argument("--party", type=int, default=0, help="which shard (0..9)")
parser.add_argument("--warmup-batches", type=int, default=5, help="untimed batches first (other data)")
args = parser.parse_args()
limit_threads(args.threads)

import torch  # noqa: E402  (after limit_threads)

from common import (  # noqa: E402
    Stopwatch,
    build_mlp,
    emit,
    hidden_sizes,
    load_mnist,
    load_order,
    make_optimizer,
    party_indices,
    public_indices,
    train_epoch,
    versions,
)

torch.manual_seed(args.seed)
order = load_order(args.order, args.seed)
x_all, y_all = load_mnist("train")
shard = torch.tensor(party_indices(order, args.party))
x, y = x_all[shard].contiguous(), y_all[shard].contiguous()

model = build_mlp(hidden_sizes(args.hidden))
optimizer = make_optimizer(args.optimizer, model.parameters(), args.lr, args.momentum)
if args.warmup_batches > 0:
    # Warm up allocator and kernels on public data, then restore the start state.
    warm = torch.tensor(public_indices(order)[: args.warmup_batches * args.batch_size])
    state = {k: v.clone() for k, v in model.state_dict().items()}
    train_epoch(model, x_all[warm], y_all[warm], args.batch_size, optimizer)
    model.load_state_dict(state)
    optimizer = make_optimizer(args.optimizer, model.parameters(), args.lr, args.momentum)

cpu_start = time.process_time()
with Stopwatch() as watch:
    loss = train_epoch(model, x, y, args.batch_size, optimizer)
cpu_seconds = time.process_time() - cpu_start

emit(
    {
        "experiment": "mnistEpoch",
        "samples": len(x),
        "seconds": watch.seconds,
        "samplesPerSecond": len(x) / watch.seconds,
        "cpuSeconds": cpu_seconds,
        "samplesPerCpuSecond": len(x) / cpu_seconds,
        "finalBatchLoss": loss,
        "architecture": "784-" + "-".join(str(h) for h in hidden_sizes(args.hidden)) + "-10",
        "optimizer": args.optimizer,
        "lr": args.lr,
        "momentum": args.momentum,
        "batchSize": args.batch_size,
        "threads": args.threads,
        "party": args.party,
        "versions": versions(),
    }
)
