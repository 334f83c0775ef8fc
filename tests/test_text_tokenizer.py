"""Subword tokenizers: trained on the given texts only, cached on disk, retrained only when data or settings change."""

from __future__ import annotations

import itertools

import pytest
import tokenizers
from tokenizers import Tokenizer

from tasks.text_data import TextTable
from tasks.text_split import PAD
from tasks.text_tasks import LocalText, seeded_cut
from tasks.tokenizer import CACHE_ENV, SPECIALS, TokenizerSettings, encode, fingerprint, recipe, trained_tokenizer
from text_helpers import topic_rows, write_local

TEXTS = [row["text"] for row in topic_rows(200)]


def test_trained_once_then_read_from_the_cache(tmp_path):
    settings = TokenizerSettings(vocab_size=120, min_frequency=1)
    first = trained_tokenizer(TEXTS, settings, cache=tmp_path)
    files = list((tmp_path / "tokenizers").iterdir())
    assert len(files) == 1
    written = files[0].stat().st_mtime_ns
    second = trained_tokenizer(TEXTS, settings, cache=tmp_path)
    assert [f.stat().st_mtime_ns for f in (tmp_path / "tokenizers").iterdir()] == [written]  # not trained again
    assert second.get_vocab() == first.get_vocab()
    assert encode(second, TEXTS[:5], 64) == encode(first, TEXTS[:5], 64)


def test_new_settings_or_new_texts_train_a_new_tokenizer(tmp_path):
    settings = TokenizerSettings(vocab_size=120, min_frequency=1)
    trained_tokenizer(TEXTS, settings, cache=tmp_path)
    trained_tokenizer(TEXTS, TokenizerSettings(vocab_size=150, min_frequency=1), cache=tmp_path)
    trained_tokenizer(TEXTS[1:], settings, cache=tmp_path)
    wordpiece = trained_tokenizer(TEXTS, TokenizerSettings(kind="wordpiece", vocab_size=120, min_frequency=1),
                                  cache=tmp_path)
    assert len(list((tmp_path / "tokenizers").iterdir())) == 4
    assert wordpiece.token_to_id("[PAD]") == PAD and any(p.startswith("##") for p in wordpiece.get_vocab())


def test_texts_that_differ_only_in_where_they_split_are_other_data():
    settings = TokenizerSettings()
    assert fingerprint(["goal\0match", "team"], settings) != fingerprint(["goal", "match\0team"], settings)
    assert fingerprint(["goal match", ""], settings) != fingerprint(["goal match"], settings)


def test_another_tokenizers_version_or_recipe_is_another_tokenizer():
    settings = TokenizerSettings()
    assert f"tokenizers {tokenizers.__version__}, " in recipe()
    assert fingerprint(["goal"], settings) == fingerprint(["goal"], settings, trained_by=recipe())
    assert fingerprint(["goal"], settings, trained_by="tokenizers 0.1, ab") != fingerprint(["goal"], settings)


@pytest.mark.parametrize("kind", ["bpe", "wordpiece"])
def test_fresh_trainings_give_the_same_pieces_and_ids(tmp_path, kind):
    # Every three-letter word once: all pairs tie, and each training's hash maps are seeded anew.
    words = ["".join(letters) for letters in itertools.product("abcdefghij", repeat=3)]
    texts = [" ".join(words[i:i + 10]) for i in range(0, len(words), 10)]
    settings = TokenizerSettings(kind=kind, vocab_size=150, min_frequency=1)
    first, *others = (trained_tokenizer(texts, settings, cache=tmp_path / str(i)).get_vocab() for i in range(4))
    assert all(other == first for other in others)


def test_wordpiece_continuation_pieces_are_not_special_tokens(tmp_path):
    tokenizer = trained_tokenizer(TEXTS, TokenizerSettings(kind="wordpiece", vocab_size=120, min_frequency=1),
                                  cache=tmp_path)
    assert {token.content for token in tokenizer.get_added_tokens_decoder().values()} == set(SPECIALS)
    pieces = {piece for text in TEXTS for piece in tokenizer.encode(text).tokens}
    assert any(piece.startswith("##") for piece in pieces)  # still pieces the model makes of words


def test_vocabulary_comes_from_the_training_texts_only(tmp_path):
    tokenizer = trained_tokenizer(TEXTS, TokenizerSettings(vocab_size=2000, min_frequency=1), cache=tmp_path)
    assert len(tokenizer.get_vocab()) < 2000  # small data: every word fits, and nothing else is invented
    assert "goal" in tokenizer.get_vocab() and "zebra" not in tokenizer.get_vocab()


def test_encoding_starts_with_cls_and_truncates(tmp_path):
    tokenizer = trained_tokenizer(TEXTS, TokenizerSettings(vocab_size=120, min_frequency=1), cache=tmp_path)
    long_text = " ".join(["goal match"] * 50)
    ids = encode(tokenizer, ["goal", long_text], max_length=16)
    assert ids[0][0] == ids[1][0] == tokenizer.token_to_id("[CLS]")
    assert len(ids[1]) == 16 and PAD not in ids[0] + ids[1]


def test_a_task_trains_its_tokenizer_on_its_training_split_once_per_vocabulary_size(tmp_path, monkeypatch):
    """Words only in the validation rows or the test file never reach the vocabulary; the same data and settings
    read the tokenizer back instead of training it again, and another size trains its own."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    rows, test_rows = topic_rows(100), topic_rows(20, seed=1)
    _, val = seeded_cut(TextTable([str(i) for i in range(len(rows))], [0] * len(rows)), 0.2, seed=0)
    for i in map(int, val.texts):  # the validation cut depends on the number of rows and the seed, not on them
        rows[i]["text"] += " zebra"
    for row in test_rows:
        row["text"] += " walrus"
    task = LocalText(train=str(write_local(tmp_path / "train.csv", rows)),
                     test=str(write_local(tmp_path / "test.csv", test_rows)), val_fraction=0.2, vocab_size=500)
    task.data_for({"vocab_size": 500})
    (path,) = (tmp_path / "cache" / "tokenizers").iterdir()
    vocabulary = Tokenizer.from_file(str(path)).get_vocab()
    assert "goal" in vocabulary and "zebra" not in vocabulary and "walrus" not in vocabulary
    written = path.stat().st_mtime_ns
    task.data_for({"vocab_size": 500})
    assert [p.stat().st_mtime_ns for p in (tmp_path / "cache" / "tokenizers").iterdir()] == [written]
    task.data_for({"vocab_size": 250})
    assert len(list((tmp_path / "cache" / "tokenizers").iterdir())) == 2
