"""Seeds for every random stream, derived from the cell's seed so runs repeat exactly.

The training seed of the trial at position i (harness.positions) depends on (seed, i) alone, so trial i
of every strategy trains with the same initialisation and data order: common random numbers make strategy
comparisons paired. The sampler draws from a separate stream, and so does a trial's training (dropout
masks), apart from the draws that initialised its model.
"""

from __future__ import annotations

import numpy as np

TRAINING_STREAM = 0
SAMPLER_STREAM = 1
DROPOUT_STREAM = 2


def derive(*keys: int) -> int:
    """A well-mixed 31-bit seed from integer keys (numpy's SeedSequence hashing)."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0] & 0x7FFFFFFF)


def training_seed(seed: int, position: int) -> int:
    return derive(seed, TRAINING_STREAM, position)


def sampler_seed(seed: int, trials_so_far: int) -> int:
    """What a strategy's plan is seeded with: a sampler drawing by position derives each position's seed from
    the one at 0 trials; one that does not (a plugin's) is seeded anew by the trials so far on resume, so it
    does not replay its draws."""
    return derive(seed, SAMPLER_STREAM, trials_so_far)


def dropout_seed(train_seed: int) -> int:
    """What the global generators are seeded with when a trial starts training."""
    return derive(train_seed, DROPOUT_STREAM)
