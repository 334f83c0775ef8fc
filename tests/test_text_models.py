"""The text model families: each searched size reaches its module, and attention runs through PyTorch's SDPA."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from tasks.text_families import build_model
from tasks.text_split import PAD, Tokens

VOCAB = 40


class Calls(TorchFunctionMode):
    """Records every torch function a forward calls (an observer: each call runs as it would)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[object] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.seen.append(func)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("cell, rnn_type", [("lstm", nn.LSTM), ("gru", nn.GRU)])
def test_the_rnn_family_is_built_as_configured(cell, rnn_type):
    model = build_model("rnn", {"cell": cell, "embed_dim": 24, "hidden": 40, "layers": 3, "bidirectional": True,
                                "dropout": 0.25, "pooling": "max"}, VOCAB, num_classes=5, max_length=16)
    assert type(model.rnn) is rnn_type and model.rnn.num_layers == 3 and model.rnn.bidirectional
    assert (model.embed.num_embeddings, model.embed.embedding_dim, model.rnn.hidden_size) == (VOCAB, 24, 40)
    assert model.rnn.dropout == model.dropout.p == 0.25 and model.pooling == "max"
    assert (model.head.in_features, model.head.out_features) == (80, 5)  # both directions' states


def test_the_transformer_family_is_a_bert_encoder_built_as_configured():
    model = build_model("transformer", {"d_model": 48, "heads": 6, "layers": 3, "ffn": 2, "dropout": 0.2,
                                        "pooling": "first"}, VOCAB, num_classes=5, max_length=16)
    config = model.encoder.config
    assert (config.hidden_size, config.num_attention_heads, config.num_hidden_layers) == (48, 6, 3)
    assert config.intermediate_size == 96 and config.vocab_size == VOCAB and config.max_position_embeddings == 16
    assert config.hidden_dropout_prob == config.attention_probs_dropout_prob == 0.2
    assert len(model.encoder.encoder.layer) == 3 and model.pooling == "first"


@pytest.mark.parametrize("padded", [True, False], ids=["padded", "full"])
def test_transformer_attention_runs_through_scaled_dot_product_attention(padded):
    """Every layer calls PyTorch's fused attention (the kernel is the device's choice), with or without padding."""
    torch.manual_seed(0)
    model = build_model("transformer", {"d_model": 16, "heads": 2, "layers": 2, "ffn": 2}, VOCAB, 3, 16).eval()
    ids = torch.randint(1, VOCAB, (3, 8))
    lengths = torch.tensor([8, 5, 2]) if padded else torch.tensor([8, 8, 8])
    ids = ids.masked_fill(torch.arange(8) >= lengths[:, None], PAD)
    with torch.no_grad(), Calls() as calls:
        model(Tokens(ids, lengths, padded))
    assert model.encoder.config._attn_implementation == "sdpa"
    assert calls.seen.count(nn.functional.scaled_dot_product_attention) == 2  # one per layer
    assert not {torch.softmax, torch.Tensor.softmax, nn.functional.softmax} & set(calls.seen)  # no eager attention
