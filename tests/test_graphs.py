"""A training step replayed from a CUDA graph does what the ordinary step does, alone or taking turns with other
trials on their own streams (the GPU tests are skipped elsewhere)."""

from __future__ import annotations

import pytest
import torch

from harness.graphs import WARMUP_STEPS, batch_key, buffers_like, compiled, copy_into, graphed_step
from harness.interleaved import fit_interleaved
from harness.optim import optimizers
from harness.step import TrainConfig, train_step
from harness.task import Data, Split
from harness.trainer import fit, make_optimizer, prepare
from tasks.image_models import compact_resnet
from tasks.text_models import RNNClassifier, TransformerClassifier
from tasks.text_split import Tokens

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_no_graph_off_the_gpu():
    model = torch.nn.Linear(4, 2)
    optimizer = make_optimizer(model, TrainConfig(optimizer="sgd"), {})
    assert graphed_step(model, optimizer, TrainConfig(optimizer="sgd"), torch.device("cpu")) is None


def tokens(width: int, padded: bool, rows: int = 4, device: str = "cpu") -> Tokens:
    """Random ids, the last row half padding when `padded`; lengths on the host, as TextSplit gives them."""
    ids = torch.randint(1, 50, (rows, width))
    lengths = torch.full((rows,), width)
    if padded:
        lengths[-1] = width // 2
        ids[-1, width // 2:] = 0
    return Tokens(ids.to(device), lengths, padded)


def test_tensor_batches_are_keyed_by_shape():
    model, labels = torch.nn.Linear(4, 2), torch.zeros(8, dtype=torch.long)
    assert batch_key(model, torch.randn(8, 4), labels) == batch_key(model, torch.randn(8, 4), labels)
    assert batch_key(model, torch.randn(8, 4), labels) != batch_key(model, torch.randn(8, 5), labels)
    assert batch_key(model, torch.randn(6, 4), labels[:6]) != batch_key(model, torch.randn(8, 4), labels)


def test_token_batches_replay_only_for_a_model_that_never_reads_their_lengths():
    transformer = TransformerClassifier(50, 2, 32, d_model=16, heads=2, layers=1, ffn=16)
    rnn = RNNClassifier(50, 2, embed_dim=8, hidden=8)
    labels = torch.zeros(4, dtype=torch.long)
    same_width = [tokens(16, padded=True), tokens(16, padded=True)]
    assert same_width[0].lengths[-1] == 8 and same_width[1].lengths[-1] == 8
    assert batch_key(transformer, same_width[0], labels) == batch_key(transformer, same_width[1], labels)
    assert batch_key(transformer, tokens(16, padded=False), labels) != batch_key(transformer, same_width[0], labels)
    assert batch_key(transformer, tokens(24, padded=True), labels) != batch_key(transformer, same_width[0], labels)
    assert batch_key(rnn, same_width[0], labels) is None  # packing reads the lengths on the host


def test_buffers_take_each_new_batch_of_their_key():
    first, second = tokens(16, padded=True), tokens(16, padded=True)
    buffers = buffers_like(first)
    assert buffers.ids is not first.ids and buffers.padded is True
    copy_into(buffers, second)
    assert torch.equal(buffers.ids, second.ids) and torch.equal(buffers.lengths, second.lengths)
    assert not torch.equal(buffers.ids, first.ids)


def twin(config: dict, device: torch.device) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = prepare(compact_resnet(3, 10, width=8).to(device), device)
    return model, make_optimizer(model, TrainConfig.from_config(config), config)


@needs_cuda
@pytest.mark.parametrize("config", [{"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4},
                                    {"optimizer": "adamw", "lr": 3e-3, "grad_clip": 1.0}], ids=["sgd", "adamw"])
def test_replayed_steps_equal_ordinary_steps(config):
    device = torch.device("cuda")
    train = TrainConfig.from_config(config)
    generator = torch.Generator(device="cuda").manual_seed(1)
    batches = [(torch.randn(n, 3, 16, 16, device=device, generator=generator).contiguous(
        memory_format=torch.channels_last), torch.randint(0, 10, (n,), device=device, generator=generator))
        for n in [32] * (WARMUP_STEPS + 4) + [20, 32, 32]]  # a shorter batch steps in between, uncaptured
    lrs = [config["lr"] * (1 - i / len(batches)) for i in range(len(batches))]  # a schedule the graph must follow
    plain_model, plain_optimizer = twin(config, device)
    graph_model, graph_optimizer = twin(config, device)
    graphed = graphed_step(graph_model, graph_optimizer, train, device)
    assert graphed is not None
    for (x, y), lr in zip(batches, lrs):
        expected = train_step(plain_model, plain_optimizer, x, y, lr, train)
        torch.testing.assert_close(graphed(x, y, lr), expected, rtol=1e-3, atol=1e-3)
    assert graphed.graphs == 1  # the full batches after the warm-up replayed a captured step
    for (name, mine), theirs in zip(graph_model.state_dict().items(), plain_model.state_dict().values()):
        torch.testing.assert_close(mine.float(), theirs.float(), rtol=1e-3, atol=1e-3, msg=name)


class ReadsBack(torch.nn.Module):
    """A model whose forward reads a value back to the host every step, as some libraries do."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not x.isfinite().all():
            raise ValueError("inputs must be finite")
        return self.linear(x)


@needs_cuda
def test_a_step_that_cannot_be_captured_steps_as_usual_on_the_trials_stream(caplog):
    device = torch.device("cuda")
    config = {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9}
    train = TrainConfig.from_config(config)

    def built() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        torch.manual_seed(0)
        model = ReadsBack().to(device)
        return model, make_optimizer(model, train, config)

    (plain_model, plain_optimizer), (graph_model, graph_optimizer) = built(), built()
    graphed = graphed_step(graph_model, graph_optimizer, train, device)
    generator = torch.Generator(device="cuda").manual_seed(2)
    own = torch.cuda.Stream()  # a trial's stream, as harness.interleaved gives each trial one
    with torch.cuda.stream(own):
        for n in [16] * (WARMUP_STEPS + 2) + [8] * (WARMUP_STEPS + 2):  # a second shape after the failed capture
            x = torch.randn(n, 8, device=device, generator=generator)
            y = torch.randint(0, 3, (n,), device=device, generator=generator)
            expected = train_step(plain_model, plain_optimizer, x, y, config["lr"], train)
            torch.testing.assert_close(graphed(x, y, config["lr"]), expected)
            assert torch.cuda.current_stream() == own  # the trial's work stays ordered on its stream
    assert graphed.graphs == 0
    assert sum("could not be captured" in record.getMessage() for record in caplog.records) == 1
    for mine, theirs in zip(graph_model.parameters(), plain_model.parameters()):
        torch.testing.assert_close(mine, theirs)


@needs_cuda
def test_rules_without_a_fused_kernel_step_as_usual():
    device = torch.device("cuda")
    model = torch.nn.Linear(4, 2).to(device)
    optimizer = optimizers.get("rmsprop")(model.parameters(), lr=0.01)
    assert graphed_step(model, optimizer, TrainConfig(optimizer="rmsprop"), device) is None


def test_a_compiled_model_is_told_apart():
    model = torch.nn.Linear(4, 2)
    assert not compiled(model) and compiled(torch.compile(model))


@needs_cuda
def test_a_compiled_model_is_left_to_its_own_graphs():
    device = torch.device("cuda")
    model = torch.nn.Linear(4, 2).to(device)
    optimizer = make_optimizer(model, TrainConfig(optimizer="sgd"), {})
    assert graphed_step(model, optimizer, TrainConfig(optimizer="sgd"), device) is not None
    assert graphed_step(torch.compile(model), optimizer, TrainConfig(optimizer="sgd"), device) is None


@needs_cuda
def test_token_batches_of_several_widths_replay_their_own_graphs():
    device = torch.device("cuda")
    config = {"optimizer": "adamw", "lr": 1e-3, "grad_clip": 1.0}
    train = TrainConfig.from_config(config)

    def transformer() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        torch.manual_seed(0)
        model = TransformerClassifier(50, 2, 32, d_model=32, heads=2, layers=2, ffn=64).to(device)
        return model, make_optimizer(model, train, config)

    widths = [16, 24, 16, 24] * (WARMUP_STEPS + 2) + [8]  # two widths captured, a third one seen once
    batches = [(tokens(width, padded=width != 24, device="cuda"), torch.randint(0, 2, (4,), device=device))
               for width in widths]
    plain_model, plain_optimizer = transformer()
    graph_model, graph_optimizer = transformer()
    graphed = graphed_step(graph_model, graph_optimizer, train, device)
    for x, y in batches:
        expected = train_step(plain_model, plain_optimizer, x, y, config["lr"], train)
        torch.testing.assert_close(graphed(x, y, config["lr"]), expected, rtol=1e-3, atol=1e-3)
    assert graphed.graphs == 2
    for (name, mine), theirs in zip(graph_model.state_dict().items(), plain_model.state_dict().values()):
        torch.testing.assert_close(mine.float(), theirs.float(), rtol=1e-3, atol=1e-3, msg=name)


@needs_cuda
def test_trials_taking_turns_on_streams_train_as_they_do_alone():
    """Dropout included: each trial's graphs draw their masks from its own generator state."""
    device = torch.device("cuda")
    generator = torch.Generator().manual_seed(0)
    splits = [Split(torch.randn(n, 3, 16, 16, generator=generator), torch.randint(0, 10, (n,), generator=generator))
              for n in (320, 64, 64)]
    data = Data(*splits, num_classes=10).to(device)
    configs = [{"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "batch_size": 32},
               {"optimizer": "adamw", "lr": 3e-3, "batch_size": 64, "grad_clip": 1.0}]
    seeds = [1, 2]

    def built(seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        return compact_resnet(3, 10, width=8, dropout=0.3).to(device)

    alone = [fit(built(s), data, c, 2, s) for c, s in zip(configs, seeds)]
    outcomes = fit_interleaved([built(s) for s in seeds], data, configs, 2, seeds)
    for outcome, single in zip(outcomes, alone):
        assert outcome.error is None
        for turns, own in zip(outcome.result.curve, single.curve):
            assert turns.train_loss == pytest.approx(own.train_loss, rel=1e-2)
            assert turns.val_loss == pytest.approx(own.val_loss, rel=1e-2)
