"""Sequence classifiers over padded token ids (id 0 is padding): a recurrent and a Transformer family."""

from __future__ import annotations

import torch
from torch import nn

PAD = 0


def masked_mean(states: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Average the states of real tokens only, so padding never changes a prediction."""
    mask = (tokens != PAD).unsqueeze(-1).to(states.dtype)
    return (states * mask).sum(1) / mask.sum(1).clamp(min=1)


class RNNClassifier(nn.Module):
    """Embedding, a (bi)LSTM or GRU, mean pooling over real tokens, dropout, linear."""

    def __init__(self, vocab_size: int, num_classes: int, cell: str = "lstm", embed_dim: int = 64,
                 hidden: int = 64, layers: int = 1, bidirectional: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = rnn(embed_dim, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional,
                       dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden * (2 if bidirectional else 1), num_classes))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        states, _ = self.rnn(self.embed(tokens))
        return self.head(masked_mean(states, tokens))


class TransformerClassifier(nn.Module):
    """Token and learned position embeddings, a pre-norm Transformer encoder, mean pooling, linear."""

    def __init__(self, vocab_size: int, num_classes: int, max_length: int, d_model: int = 64, heads: int = 4,
                 layers: int = 2, ffn: int = 128, dropout: float = 0.0) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model, padding_idx=PAD)
        self.position = nn.Embedding(max_length, d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, ffn, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(d_model, num_classes))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        states = self.encoder(self.embed(tokens) + self.position(positions), src_key_padding_mask=tokens == PAD)
        return self.head(masked_mean(self.norm(states), tokens))
