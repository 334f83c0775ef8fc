"""The vocabulary size is a hyperparameter: each size trains its own tokenizer, data and embedding."""

from __future__ import annotations

import random

import pandas as pd
from typer.testing import CliRunner

from harness.cli import app
from tasks.text_tasks import LocalText
from conftest import TABLES_ONLY
from text_helpers import topic_rows, write_local


def many_word_rows(n: int) -> list[dict[str, str]]:
    """Texts over a few hundred made-up words, so vocabularies of 100 and 240 pieces both fill up."""
    generator = random.Random(0)
    words = ["".join(generator.choice("bcdfgklmnprstvz") + generator.choice("aeiou") for _ in range(3))
             for _ in range(300)]
    return [{"text": " ".join(generator.choices(words, k=12)), "label": str(i % 2)} for i in range(n)]


def test_each_vocabulary_size_gets_its_own_tokens_and_embedding(tmp_path):
    task = LocalText(train=str(write_local(tmp_path / "words.csv", many_word_rows(300))), vocab_size=120,
                     max_length=64)
    vocabulary = task.space()["vocab_size"]
    assert vocabulary.default == 120 and vocabulary.choices == (100, 120, 240)
    small, large = ({**task.space().defaults(), "vocab_size": size} for size in (100, 240))
    assert task.data_key(small) != task.data_key(large) and task.data_key({}) == 120
    small_data, large_data = task.data_for(small), task.data_for(large)
    assert int(small_data.train.inputs.max()) < 100 < int(large_data.train.inputs.max()) < 240
    assert int(small_data.train.lengths.sum()) > int(large_data.train.lengths.sum())  # fewer, longer pieces
    embeddings = [next(m for m in task.model(c, d).modules() if m.__class__.__name__ == "Embedding")
                  for c, d in ((small, small_data), (large, large_data))]
    assert [e.num_embeddings for e in embeddings] == [100, 240]


def test_a_grid_over_vocabulary_sizes_trains_every_size(tmp_path, write_spec):
    path = write_local(tmp_path / "news.csv", topic_rows(120))
    spec = {"name": "vocab", "tasks": [{"name": "local", "train": str(path), "vocab_size": 100, "max_length": 24}],
            "strategies": ["grid"], "seeds": [0], "budget": {"trials": 2, "epochs": 1}, "device": "cpu",
            "space": {"vocab_size": [100, 200], "embed_dim": 32, "hidden": 32, "layers": 1, "batch_size": 32,
                      "cell": "gru", "bidirectional": False, "pooling": "mean", "lr": 1e-2, "optimizer": "adam",
                      "schedule": "constant", "weight_decay": 1e-5, "dropout": 0.0, "grad_clip": 1.0,
                      "beta1": 0.9, "beta2": 0.999}}
    result = CliRunner().invoke(app, ["run", str(write_spec(spec)), "--runs-dir", str(tmp_path / "runs"), *TABLES_ONLY])
    assert result.exit_code == 0, result.output
    trials = pd.read_csv(tmp_path / "runs" / "vocab" / "results.csv")
    assert sorted(trials["param_vocab_size"]) == [100, 200] and (trials["state"] == "COMPLETE").all()


def test_a_vocabulary_that_outgrows_its_size_still_fits_the_embedding(tmp_path):
    """WordPiece keeps every character, alone and as a word's continuation, whatever size was asked for."""
    alphabet = [chr(code) for code in range(0x3b1, 0x3c9)] + list("abcdefghijklmnopqrstuvwxyz")  # Greek and Latin
    generator = random.Random(0)
    rows = [{"text": " ".join("".join(generator.choices(alphabet, k=5)) for _ in range(8)), "label": str(i % 2)}
            for i in range(200)]
    task = LocalText(train=str(write_local(tmp_path / "chars.csv", rows)), tokenizer="wordpiece", vocab_size=100,
                     max_length=16)
    config = task.space().defaults()
    data = task.data_for(config)
    highest = max(int(split.inputs.max()) for split in (data.train, data.val, data.test))
    assert 100 < highest < data.vocabulary
    model = task.model(config, data)
    model.eval()
    batch = next(data.test.batches(8))[0]
    assert model(batch).shape == (len(batch.ids), 2)
