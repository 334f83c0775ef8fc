"""Subword tokenizers trained on a training split with Hugging Face `tokenizers`, cached on disk.

The cache key is a hash of the training texts, the settings and the recipe (the `tokenizers` version
and this module), so every trial, cell and later run of the same task reuses one trained tokenizer, and
a change to any of them trains a new one. Trained on
one thread, with ids renumbered in a fixed order, a tokenizer is the same in every process and on
every machine. The tokenizer only ever sees the training split: validation and test words it never met become pieces
or [UNK], as in a real deployment.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import tokenizers
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

from tasks.text_split import PAD

SPECIALS = ("[PAD]", "[UNK]", "[CLS]")  # ids 0, 1, 2: padding is id 0 everywhere in the text tasks
CACHE_ENV = "HARNESS_CACHE"
PARALLELISM_ENV = "TOKENIZERS_PARALLELISM"
CONTINUATION = "##"  # WordPiece's mark of a piece that continues a word


def cache_root() -> Path:
    """$HARNESS_CACHE, else ~/.cache/harness: where trained tokenizers (and other derived data) live."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "harness")


@dataclass(frozen=True)
class TokenizerSettings:
    kind: Literal["bpe", "wordpiece"] = "bpe"
    vocab_size: int = 30_000  # BERT's size; small data sets want far fewer
    lowercase: bool = True
    min_frequency: int = 2  # a piece seen once is noise, not vocabulary


def recipe() -> str:
    """What trains a tokenizer besides its texts and settings: the `tokenizers` version and this module's source.
    Either may change the pieces trained, so a cached tokenizer is reused only where it would be trained alike."""
    return f"tokenizers {tokenizers.__version__}, {hashlib.sha256(Path(__file__).read_bytes()).hexdigest()}"


def fingerprint(texts: Iterable[str], settings: TokenizerSettings, trained_by: str | None = None) -> str:
    """A hash of the recipe, the settings and every text in order: the tokenizer's identity. Each text is hashed
    after its length, so no two lists of texts hash alike (with a separator, a text holding it would split in two)."""
    identity = {**asdict(settings), "recipe": trained_by or recipe()}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode())
    for text in texts:
        encoded = text.encode()
        digest.update(len(encoded).to_bytes(8, "little"))
        digest.update(encoded)
    return digest.hexdigest()[:20]


def untrained(texts: Sequence[str], settings: TokenizerSettings) -> tuple[Tokenizer, trainers.Trainer]:
    """BERT's normaliser and pre-tokeniser with a WordPiece or BPE model, and the matching trainer."""
    options = dict(vocab_size=settings.vocab_size, min_frequency=settings.min_frequency, show_progress=False)
    if settings.kind == "wordpiece":
        tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix=CONTINUATION))
    else:
        tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=settings.lowercase)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    if settings.kind == "wordpiece":
        # The trainer numbers the "##c" pieces it meets in hash-map order and breaks frequency ties by those
        # numbers; given up front, in sorted order, they get fixed numbers and the ties fixed winners.
        specials = [*SPECIALS, *continuation_pieces(tokenizer, texts)]
        return tokenizer, trainers.WordPieceTrainer(**options, special_tokens=specials,
                                                    continuing_subword_prefix=CONTINUATION)
    return tokenizer, trainers.BpeTrainer(**options, special_tokens=list(SPECIALS))


def continuation_pieces(tokenizer: Tokenizer, texts: Iterable[str]) -> list[str]:
    """Every character that continues a word, as the WordPiece trainer's "##c" pieces, sorted."""
    continuing: set[str] = set()
    for text in texts:
        for word, _ in tokenizer.pre_tokenizer.pre_tokenize_str(tokenizer.normalizer.normalize_str(text)):
            continuing.update(word[1:])
    return [CONTINUATION + c for c in sorted(continuing)]


def trained_tokenizer(texts: Sequence[str], settings: TokenizerSettings, cache: Path | None = None) -> Tokenizer:
    """The tokenizer for these training texts: read from the cache, or trained once and written there."""
    path = (cache or cache_root()) / "tokenizers" / f"{settings.kind}-{fingerprint(texts, settings)}.json"
    if path.exists():
        return Tokenizer.from_file(str(path))
    tokenizer = canonical(trained(texts, settings))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")  # written whole, then renamed: readers never see half
    tokenizer.save(str(partial))
    partial.replace(path)
    return tokenizer


def trained(texts: Sequence[str], settings: TokenizerSettings) -> Tokenizer:
    """Train on one thread: the parallel trainer breaks frequency ties differently from run to run."""
    tokenizer, trainer = untrained(texts, settings)
    before = os.environ.get(PARALLELISM_ENV)
    os.environ[PARALLELISM_ENV] = "false"
    try:
        tokenizer.train_from_iterator(texts, trainer, length=len(texts))
    finally:
        if before is None:
            del os.environ[PARALLELISM_ENV]
        else:
            os.environ[PARALLELISM_ENV] = before
    tokenizer.post_processor = processors.TemplateProcessing(single="[CLS] $A", special_tokens=[("[CLS]", 2)])
    return tokenizer


def canonical(tokenizer: Tokenizer) -> Tokenizer:
    """The same vocabulary with ids in a fixed order (special tokens, then the rest sorted), so equal
    data and settings give equal ids in every process; the trainer numbers pieces in hash-map order.
    Only the special tokens stay special (WordPiece's "##c" pieces were passed as such to the trainer)."""
    state = json.loads(tokenizer.to_str())
    state["added_tokens"] = [token for token in state["added_tokens"] if token["content"] in SPECIALS]
    vocab = state["model"]["vocab"]
    pieces = sorted(set(vocab) - set(SPECIALS))
    state["model"]["vocab"] = {piece: i for i, piece in enumerate([*SPECIALS, *pieces])}
    return Tokenizer.from_str(json.dumps(state))


def encode(tokenizer: Tokenizer, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids of each text, [CLS] first, truncated to `max_length`."""
    assert tokenizer.token_to_id("[PAD]") == PAD
    tokenizer.enable_truncation(max_length)
    return [encoding.ids for encoding in tokenizer.encode_batch(list(texts))]
