"""The original experiment with Flower: parties with IID shards of 5,500 (explicit order file),
FedAvg rounds of one local epoch each, then every party's accuracy on the 10,000 test images.

Two runs: `full` is FedAvg of full weights (the original prototype's method); `lora` is Flower
with PEFT LoRA adapters on every linear layer of a base pretrained on the public part
(train[55000:60000]); only adapters travel and FedAvg averages A and B separately (what Flower +
PEFT users do). Engine `simulation` is Flower's Ray simulation (flwr.simulation.start_simulation);
`inprocess` drives the same strategy objects in this process, parties one after another.
Prints one JSON object."""
import argparse
import time

from common import add_common_flags, add_mlp_flags, limit_threads

parser = argparse.ArgumentParser(description=__doc__)
add_common_flags(parser)
add_mlp_flags(parser)
parser.add_argument("--parties", type=int, default=4)
parser.add_argument("--rounds", type=int, default=5)
parser.add_argument("--local-epochs", type=int, default=1)
parser.add_argument("--runs", default="full,lora", help="which runs: full, lora, or both")
parser.add_argument("--engine", choices=["simulation", "inprocess"], default="simulation")
parser.add_argument("--lora-rank", type=int, default=8)
parser.add_argument("--lora-alpha", type=float, default=16.0)
parser.add_argument("--lora-lr", type=float, default=None, help="learning rate of adapters (default --lr)")
parser.add_argument("--pretrain-epochs", type=int, default=5, help="base training on the public part")
args = parser.parse_args()
# Total cores for the run: each party trains with one thread, up to --threads parties at a time.
limit_threads(1)

import flwr  # noqa: E402
import torch  # noqa: E402
from flwr.client import NumPyClient  # noqa: E402
from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays  # noqa: E402
from flwr.server import ServerConfig  # noqa: E402
from flwr.server.strategy import FedAvg  # noqa: E402

from common import (  # noqa: E402
    Stopwatch,
    accuracy,
    build_mlp,
    emit,
    hidden_sizes,
    load_mnist,
    load_order,
    make_optimizer,
    party_indices,
    public_indices,
    stdout_to_stderr,
    train_epoch,
    versions,
)

_data = {}


def data():
    """MNIST and the order, loaded once per process (Ray actors keep theirs across calls)."""
    if not _data:
        _data["order"] = load_order(args.order, args.seed)
        _data["train"] = load_mnist("train")
        _data["test"] = load_mnist("test")
    return _data


def make_model(kind: str, base_state):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(args.seed)
    model = build_mlp(hidden_sizes(args.hidden))
    if kind == "full":
        return model
    model.load_state_dict(base_state)
    targets = [name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    config = LoraConfig(r=args.lora_rank, lora_alpha=args.lora_alpha, target_modules=targets, lora_dropout=0.0)
    return get_peft_model(model, config)


def get_weights(kind: str, model):
    from peft import get_peft_model_state_dict

    state = model.state_dict() if kind == "full" else get_peft_model_state_dict(model)
    return [t.detach().cpu().numpy().copy() for t in state.values()]


def set_weights(kind: str, model, arrays):
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    keys = list((model.state_dict() if kind == "full" else get_peft_model_state_dict(model)).keys())
    state = {k: torch.from_numpy(a.copy()) for k, a in zip(keys, arrays)}
    if kind == "full":
        model.load_state_dict(state)
    else:
        set_peft_model_state_dict(model, state)


class Party(NumPyClient):
    def __init__(self, party: int, kind: str, base_state):
        torch.set_num_threads(1)
        self.party, self.kind = party, kind
        self.model = make_model(kind, base_state)

    def fit(self, parameters, config):
        d = data()
        shard = torch.tensor(party_indices(d["order"], self.party))
        x, y = d["train"][0][shard], d["train"][1][shard]
        set_weights(self.kind, self.model, parameters)
        lr = args.lr if self.kind == "full" or args.lora_lr is None else args.lora_lr
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = make_optimizer(args.optimizer, trainable, lr, args.momentum)
        for _ in range(args.local_epochs):
            train_epoch(self.model, x, y, args.batch_size, optimizer)
        return get_weights(self.kind, self.model), len(x), {"party": self.party}

    def evaluate(self, parameters, config):
        set_weights(self.kind, self.model, parameters)
        x, y = data()["test"]
        return 0.0, len(x), {"party": self.party, "accuracy": accuracy(self.model, x, y)}


class RecordingFedAvg(FedAvg):
    """FedAvg that records round times, the bytes of every upload, and evaluates only at the end."""

    def __init__(self, rounds: int, **kw):
        super().__init__(**kw)
        self.rounds = rounds
        self.round_seconds, self.bytes_up, self.bytes_down, self.accuracy = {}, {}, {}, {}
        self._start = {}

    def configure_fit(self, server_round, parameters, client_manager):
        self._start[server_round] = time.perf_counter()
        self.bytes_down[server_round] = sum(len(t) for t in parameters.tensors)
        return super().configure_fit(server_round, parameters, client_manager)

    def aggregate_fit(self, server_round, results, failures):
        if failures:
            raise RuntimeError(f"round {server_round}: {len(failures)} parties failed: {failures[0]!r}")
        self.bytes_up[server_round] = {
            int(res.metrics["party"]): sum(len(t) for t in res.parameters.tensors) for _, res in results
        }
        out = super().aggregate_fit(server_round, results, failures)
        self.round_seconds[server_round] = time.perf_counter() - self._start[server_round]
        return out

    def configure_evaluate(self, server_round, parameters, client_manager):
        if server_round < self.rounds:
            return []
        return super().configure_evaluate(server_round, parameters, client_manager)

    def aggregate_evaluate(self, server_round, results, failures):
        if failures:
            raise RuntimeError(f"evaluation: {len(failures)} parties failed: {failures[0]!r}")
        self.accuracy = {int(r.metrics["party"]): float(r.metrics["accuracy"]) for _, r in results}
        return None, {}


def pretrain_base():
    """The base for the LoRA run: the MLP trained centrally on the public part only."""
    d = data()
    public = torch.tensor(public_indices(d["order"]))
    torch.manual_seed(args.seed)
    model = build_mlp(hidden_sizes(args.hidden))
    optimizer = make_optimizer(args.optimizer, model.parameters(), args.lr, args.momentum)
    for _ in range(args.pretrain_epochs):
        train_epoch(model, d["train"][0][public], d["train"][1][public], args.batch_size, optimizer)
    return model.state_dict(), accuracy(model, *d["test"])


def run_inprocess(strategy, make_party):
    """The strategy's own configure/aggregate calls, parties run here one after another."""
    from flwr.common import EvaluateRes, FitRes, Status, Code

    params = strategy.initial_parameters
    ok = Status(code=Code.OK, message="")
    parties = [make_party(p) for p in range(args.parties)]
    for rnd in range(1, args.rounds + 1):
        strategy._start[rnd] = time.perf_counter()
        strategy.bytes_down[rnd] = sum(len(t) for t in params.tensors)
        results = []
        for party in parties:
            arrays, n, metrics = party.fit(parameters_to_ndarrays(params), {})
            results.append((None, FitRes(ok, ndarrays_to_parameters(arrays), n, metrics)))
        params, _ = strategy.aggregate_fit(rnd, results, [])
    results = []
    for party in parties:
        loss, n, metrics = party.evaluate(parameters_to_ndarrays(params), {})
        results.append((None, EvaluateRes(ok, loss, n, metrics)))
    strategy.aggregate_evaluate(args.rounds, results, [])


def run(kind: str) -> dict:
    base_state, base_accuracy = pretrain_base() if kind == "lora" else (None, None)
    initial = make_model(kind, base_state)
    strategy = RecordingFedAvg(
        args.rounds,
        fraction_fit=1.0,
        fraction_evaluate=1.0,
        min_fit_clients=args.parties,
        min_evaluate_clients=args.parties,
        min_available_clients=args.parties,
        initial_parameters=ndarrays_to_parameters(get_weights(kind, initial)),
    )

    def make_party(party: int):
        return Party(party, kind, base_state)

    with Stopwatch() as watch:
        if args.engine == "simulation":
            from flwr.simulation import start_simulation

            start_simulation(
                client_fn=lambda context: make_party(int(context.node_config["partition-id"])).to_client(),
                num_clients=args.parties,
                config=ServerConfig(num_rounds=args.rounds),
                strategy=strategy,
                client_resources={"num_cpus": 1, "num_gpus": 0.0},
                ray_init_args={
                    "num_cpus": args.threads,
                    "include_dashboard": False,
                    "ignore_reinit_error": True,
                    "object_store_memory": 256 * 1024 * 1024,
                },
            )
        else:
            run_inprocess(strategy, make_party)
    if len(strategy.accuracy) != args.parties or len(strategy.round_seconds) != args.rounds:
        raise RuntimeError(f"{kind}: the run did not complete all rounds and evaluations")
    ups = [b for r in strategy.bytes_up.values() for b in r.values()]
    return {
        "partyAccuracy": [strategy.accuracy[p] for p in range(args.parties)],
        "meanAccuracy": sum(strategy.accuracy.values()) / args.parties,
        "wallSeconds": watch.seconds,
        "roundSeconds": [strategy.round_seconds[r] for r in range(1, args.rounds + 1)],
        "roundsSeconds": sum(strategy.round_seconds.values()),
        "bytesSentPerPartyPerRound": sum(ups) / len(ups),
        "bytesReceivedPerPartyPerRound": sum(strategy.bytes_down.values()) / args.rounds,
        "trainableParameters": sum(a.size for a in get_weights(kind, initial)),
        "baseAccuracy": base_accuracy,
    }


kinds = [k.strip() for k in args.runs.split(",") if k.strip()]
with stdout_to_stderr():
    runs = {kind: run(kind) for kind in kinds}
emit(
    {
        "experiment": "mnistFedAvg",
        "engine": args.engine,
        "parties": args.parties,
        "rounds": args.rounds,
        "localEpochs": args.local_epochs,
        "architecture": "784-" + "-".join(str(h) for h in hidden_sizes(args.hidden)) + "-10",
        "optimizer": args.optimizer,
        "lr": args.lr,
        "loraLr": args.lora_lr if args.lora_lr is not None else args.lr,
        "momentum": args.momentum,
        "batchSize": args.batch_size,
        "loraRank": args.lora_rank,
        "loraAlpha": args.lora_alpha,
        "threads": args.threads,
        "runs": runs,
        "bytesNote": "payload bytes of Flower's serialised NumPy tensors (no transport framing)",
        "versions": {**versions(), "flwr": flwr.__version__},
    }
)
