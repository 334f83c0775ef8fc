"""Length bucketing loses nothing and repeats nothing, and padding never changes a prediction."""

from __future__ import annotations

import pytest
import torch

from tasks.text_families import build_model
from tasks.text_models import RNN_POOLINGS, TRANSFORMER_POOLINGS
from tasks.text_split import LENGTH_MULTIPLE, PAD, TextSplit, Tokens
from text_helpers import one_thread  # noqa: F401  (a fixture)

VOCAB = 50


def random_split(n: int = 300, seed: int = 0, max_length: int = 40) -> TextSplit:
    """Sequences of 1..max_length random non-pad ids; label i marks example i."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, max_length + 1, (n,), generator=generator).tolist()
    sequences = [torch.randint(1, VOCAB, (k,), generator=generator).tolist() for k in lengths]
    return TextSplit.of(sequences, torch.arange(n), max_length)


def unpadded(ids: torch.Tensor, length: int) -> list[int]:
    return ids[:length].tolist()


@pytest.mark.parametrize("bucketed", [True, False])
def test_each_example_once_per_epoch_with_every_token(bucketed):
    split = TextSplit(*(f for f in (lambda s: (s.inputs, s.labels, s.lengths))(random_split())), bucketed=bucketed)
    seen = []
    for tokens, labels in split.batches(32, torch.Generator().manual_seed(1)):
        assert isinstance(tokens, Tokens)
        longest = int(tokens.lengths.max())  # trimmed to the longest in the batch, rounded up to a multiple
        assert tokens.ids.shape[1] == min(-(-longest // LENGTH_MULTIPLE) * LENGTH_MULTIPLE, split.width)
        assert torch.all(tokens.lengths[:-1] >= tokens.lengths[1:])  # longest first, ready to pack
        assert tokens.padded == bool(tokens.ids.shape[1] != tokens.lengths[-1])
        for row, length, label in zip(tokens.ids, tokens.lengths, labels.tolist()):
            assert unpadded(row, int(length)) == unpadded(split.inputs[label], int(split.lengths[label]))
            assert torch.all(row[int(length):] == PAD)
            seen.append(label)
    assert sorted(seen) == list(range(len(split)))


def test_bucketing_cuts_padding_and_is_seeded():
    split = random_split(n=2000)
    padded = {}
    for bucketed in (True, False):
        batches = TextSplit(split.inputs, split.labels, split.lengths, bucketed=bucketed).batches(
            32, torch.Generator().manual_seed(1))
        padded[bucketed] = sum(int(t.lengths[0]) * len(t.lengths) - int(t.lengths.sum()) for t, _ in batches)
    assert padded[True] * 5 < padded[False]
    orders = [[labels.tolist() for _, labels in split.batches(32, torch.Generator().manual_seed(seed))]
              for seed in (1, 1, 2)]
    assert orders[0] == orders[1] != orders[2]


def test_evaluation_batches_go_through_the_split_in_order():
    split = random_split(n=100)
    batches = [labels.tolist() for _, labels in split.batches(32)]
    assert [sorted(b) for b in batches] == [list(range(s, min(s + 32, 100))) for s in range(0, 100, 32)]


def test_truncation_keeps_at_least_one_token():
    split = TextSplit.of([[5, 6, 7, 8], [], [9]], torch.tensor([0, 1, 0]), max_length=3)
    assert split.lengths.tolist() == [3, 1, 1]
    assert split.inputs.tolist() == [[5, 6, 7], [PAD, PAD, PAD], [9, PAD, PAD]]


def test_lengths_stay_on_the_host_when_the_split_moves():
    split = random_split(n=10).to(torch.device("cpu"))
    assert isinstance(split, TextSplit) and split.lengths.device.type == "cpu"


FAMILIES = ([("rnn", {"cell": cell, "bidirectional": bi, "pooling": pooling, "layers": 2})
             for cell in ("lstm", "gru") for bi in (False, True) for pooling in RNN_POOLINGS]
            + [("transformer", {"pooling": pooling}) for pooling in TRANSFORMER_POOLINGS])


@pytest.mark.parametrize("family, config", FAMILIES, ids=lambda v: v if isinstance(v, str) else
                         "-".join(str(x) for x in v.values()))
def test_a_prediction_does_not_depend_on_its_batch(family, config, one_thread):
    split = random_split(n=24, max_length=20)
    torch.manual_seed(0)
    model = build_model(family, {"embed_dim": 16, "hidden": 16, "d_model": 16, "heads": 2, "ffn": 2, "dropout": 0.3,
                                 **config}, VOCAB, num_classes=3, max_length=20).eval()
    with torch.no_grad():
        together = {int(i): row for tokens, labels in split.batches(24) for i, row in zip(labels, model(tokens))}
        for i in range(len(split)):
            length = int(split.lengths[i])
            alone = model(Tokens(split.inputs[i:i + 1, :length], split.lengths[i:i + 1], padded=False))[0]
            assert torch.allclose(alone, together[i], atol=1e-5), (i, length)
        # plain padded ids (no host lengths) give the same predictions too
        assert torch.allclose(model(split.inputs)[3], together[3], atol=1e-5)
