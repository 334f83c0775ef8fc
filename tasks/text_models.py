"""Sequence classifiers over right-padded token ids (id 0 is padding): a recurrent and a Transformer family.

Both take a `Tokens` batch (ids on the device, lengths on the host) or plain padded ids, and both
ignore padding entirely: the RNN runs on packed sequences, the Transformer masks padded keys in
PyTorch's fused scaled-dot-product attention, and pooling averages (or maxes) real tokens only.
So a sequence's prediction does not depend on what it is batched with.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from tasks.text_split import PAD, Tokens

RNN_POOLINGS = ("mean", "max", "last")
TRANSFORMER_POOLINGS = ("mean", "max", "first")


def as_tokens(batch: Tokens | torch.Tensor) -> Tokens:
    """Plain padded ids (a caller outside the trainer) get their lengths counted, which reads them back once."""
    if isinstance(batch, Tokens):
        return batch
    return Tokens(batch, (batch != PAD).sum(1).clamp(min=1).cpu())


def pool(states: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """Mean or max over real tokens, or the first token's state (a [CLS] token's, for the Transformer)."""
    if how == "mean":
        weights = mask.unsqueeze(-1).to(states.dtype)
        return (states * weights).sum(1) / weights.sum(1).clamp(min=1)
    if how == "max":
        return states.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)
    if how == "first":
        return states[:, 0]
    raise ValueError(f"pooling must be one of mean, max, first, but got {how!r}")


class RNNClassifier(nn.Module):
    """Embedding, a (bi)LSTM or GRU over packed sequences, mean/max/last pooling, dropout, linear."""

    def __init__(self, vocab_size: int, num_classes: int, cell: str = "lstm", embed_dim: int = 64,
                 hidden: int = 64, layers: int = 1, bidirectional: bool = False, dropout: float = 0.0,
                 pooling: str = "mean") -> None:
        super().__init__()
        if pooling not in RNN_POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(RNN_POOLINGS)}, but got {pooling!r}")
        self.pooling, self.directions = pooling, 2 if bidirectional else 1
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = rnn(embed_dim, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional,
                       dropout=dropout if layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden * self.directions, num_classes)

    def forward(self, batch: Tokens | torch.Tensor) -> torch.Tensor:
        ids, lengths, _ = as_tokens(batch)
        descending = bool((lengths[:-1] >= lengths[1:]).all())  # host lengths: no read-back
        packed = pack_padded_sequence(self.dropout(self.embed(ids)), lengths, batch_first=True,
                                      enforce_sorted=descending)
        outputs, final = self.rnn(packed)
        if self.pooling == "last":  # the final state of each direction at each sequence's own end
            hidden = final[0] if isinstance(final, tuple) else final
            pooled = torch.cat(list(hidden[-self.directions:]), dim=-1)
        else:
            states, _ = pad_packed_sequence(outputs, batch_first=True, total_length=ids.shape[1])
            pooled = pool(states, ids != PAD, self.pooling)
        return self.head(self.dropout(pooled))


class TransformerClassifier(nn.Module):
    """A BERT-style encoder built from a `BertConfig` (random init, no download), pooling, dropout, linear.

    Attention runs through `torch.nn.functional.scaled_dot_product_attention` (the "sdpa"
    implementation), which picks a fused kernel where the device has one.
    """

    def __init__(self, vocab_size: int, num_classes: int, max_length: int, d_model: int = 64, heads: int = 4,
                 layers: int = 2, ffn: int = 128, dropout: float = 0.0, pooling: str = "mean") -> None:
        super().__init__()
        if pooling not in TRANSFORMER_POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(TRANSFORMER_POOLINGS)}, but got {pooling!r}")
        if d_model % heads:
            raise ValueError(f"d_model must be a multiple of heads, but got d_model={d_model}, heads={heads}")
        self.pooling = pooling
        # a second's import, which only this model needs
        from transformers import BertConfig, BertModel

        config = BertConfig(vocab_size=vocab_size, hidden_size=d_model, num_hidden_layers=layers,
                            num_attention_heads=heads, intermediate_size=ffn, hidden_dropout_prob=dropout,
                            attention_probs_dropout_prob=dropout, max_position_embeddings=max_length,
                            type_vocab_size=1, pad_token_id=PAD, attn_implementation="sdpa")
        self.encoder = BertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, batch: Tokens | torch.Tensor) -> torch.Tensor:
        ids, padded = (batch.ids, batch.padded) if isinstance(batch, Tokens) else (batch, True)
        mask = ids != PAD
        # The host knows whether the batch has padding, so nothing is read back: none lets SDPA use its flash
        # kernel; a ready 4D mask skips the library's own check of the mask's contents (a read-back per step).
        attention = mask[:, None, None, :] if padded else None
        states = self.encoder(input_ids=ids, attention_mask=attention).last_hidden_state
        return self.head(self.dropout(pool(states, mask, self.pooling)))

    @staticmethod
    def graph_key(batch: Tokens | torch.Tensor) -> tuple[torch.Size, bool]:
        """Batches of one shape and padding flag run the same kernels (the lengths are never read), so one
        captured training step replays them all (harness.graphs)."""
        ids, padded = (batch.ids, batch.padded) if isinstance(batch, Tokens) else (batch, True)
        return ids.shape, padded
