"""Text data sets: hub-layout directories through the real `datasets` library, local files, and their errors."""

from __future__ import annotations

import json
import shutil
import socket

import datasets
import huggingface_hub
import pytest
from datasets.packaged_modules.parquet.parquet import Parquet
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import HarnessError, SpecError
from harness.plan import build_plan
from harness.spec import parse_spec
from harness.task import tasks
from tasks.text_tasks import AgNews, LocalText, Sst2
from text_helpers import topic_rows, write_hub_dir, write_local

SMALL = {"vocab_size": 100, "max_length": 32}


def test_hub_layout_directory_loads_through_datasets(tmp_path):
    rows = [{"text": r["text"], "label": ["sport", "money", "film"].index(r["label"])} for r in topic_rows(120)]
    root = write_hub_dir(tmp_path / "ag_news", {"train": rows[:100], "test": rows[100:]})
    data = AgNews(path=str(root), val_fraction=0.2, **SMALL).data()
    assert (len(data.train), len(data.val), len(data.test)) == (80, 20, 20)
    assert data.num_classes == 3
    assert int(data.train.inputs.max()) < SMALL["vocab_size"]
    assert int(data.train.lengths.max()) <= SMALL["max_length"]


def test_sst2_reads_sentences_and_tests_on_validation(tmp_path):
    rows = [{"idx": i, "sentence": r["text"], "label": int(r["label"] == "film")} for i, r in enumerate(topic_rows(60))]
    root = write_hub_dir(tmp_path / "sst2", {"train": rows[:40], "validation": rows[40:],
                                              "test": [{**r, "label": -1} for r in rows[40:]]})
    data = Sst2(path=str(root), **SMALL).data()
    assert len(data.test) == 20 and data.num_classes == 2


def test_train_limit_and_split_seed_shape_the_splits(tmp_path):
    root = write_hub_dir(tmp_path / "d", {"train": topic_rows(100), "test": topic_rows(10, seed=1)})
    limited = AgNews(path=str(root), train_limit=50, val_fraction=0.2, **SMALL).data()
    assert (len(limited.train), len(limited.val)) == (40, 10)
    a, b = (AgNews(path=str(root), split_seed=seed, **SMALL).data() for seed in (0, 1))
    assert not (a.val.inputs.shape == b.val.inputs.shape and a.val.inputs.equal(b.val.inputs))


def test_a_data_set_not_cached_offline_is_one_clear_error():
    with pytest.raises(HarnessError) as error:
        AgNews().data()
    message = str(error.value)
    assert message.startswith("cannot load data set 'fancyzhx/ag_news' (offline mode is on)")
    assert "\n" not in message and "Hugging Face cache" in message


@pytest.fixture
def cached_ag_news(tmp_path, monkeypatch):
    """AG News in this test's `datasets` cache, laid out as a download leaves it:
    <namespace>___<name>/<config>/<version>/<hash> with the splits as Arrow files, written by `datasets` itself."""
    rows = [{"text": r["text"], "label": ["sport", "money", "film"].index(r["label"])} for r in topic_rows(120)]
    download = write_hub_dir(tmp_path / "download", {"train": rows[:100], "test": rows[100:]})
    builder = Parquet(cache_dir=str(tmp_path / "built"), dataset_name="ag_news", config_name="default", hash="0",
                      data_files={split: str(download / "data" / f"{split}-00000-of-00001.parquet")
                                  for split in ("train", "test")})
    builder.download_and_prepare()
    cache = tmp_path / "cache"
    shutil.copytree(builder.cache_dir, cache / "fancyzhx___ag_news" / "default" / "0.0.0" / "0")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(cache))  # this test's cache, not the session's


@pytest.fixture
def unreachable_hub(monkeypatch):
    """Offline mode off, and the Hub's endpoint a local port nothing listens on, with no proxy in between."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for module, name in ((datasets.config, "HF_ENDPOINT"), (huggingface_hub.constants, "ENDPOINT")):
        monkeypatch.setattr(module, name, f"http://127.0.0.1:{port}")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    return port


def test_a_hub_data_set_in_the_cache_loads_offline(cached_ag_news):
    assert datasets.config.HF_HUB_OFFLINE  # as conftest sets
    data = AgNews(val_fraction=0.2, **SMALL).data()
    assert (len(data.train), len(data.val), len(data.test)) == (80, 20, 20) and data.num_classes == 3


def test_an_unreachable_hub_reads_the_cache_without_the_offline_flag(cached_ag_news, unreachable_hub, caplog):
    data = AgNews(val_fraction=0.2, **SMALL).data()
    assert (len(data.train), len(data.val), len(data.test)) == (80, 20, 20)
    assert "Retrying" not in caplog.text
    assert not datasets.config.HF_HUB_OFFLINE and not huggingface_hub.constants.HF_HUB_OFFLINE  # restored


def test_an_unreachable_hub_and_no_cache_is_one_line_naming_the_hub(unreachable_hub, caplog):
    with pytest.raises(HarnessError) as error:
        AgNews().data()
    message = str(error.value)
    assert message.startswith(f"cannot load data set 'fancyzhx/ag_news' (the Hub cannot be reached: "
                              f"127.0.0.1:{unreachable_hub}: ")
    assert "\n" not in message and "only the cache was read" in message
    assert "Retrying" not in caplog.text


def test_cli_train_reports_a_missing_data_set_and_exits_2():
    result = CliRunner().invoke(app, ["train", "imdb", "--epochs", "1", "--device", "cpu"])
    assert result.exit_code == 2
    assert "cannot load data set 'stanfordnlp/imdb'" in result.output and "Traceback" not in result.output


def test_cli_errors_print_brackets_as_they_are(tmp_path):
    path = write_local(tmp_path / "news[v1].csv", [{"body": r["text"], "label": r["label"]} for r in topic_rows(20)])
    result = CliRunner().invoke(app, ["train", "local", "--option", f"train={path}", "--device", "cpu"])
    assert result.exit_code == 2
    assert f"{path} has no text column 'text'" in " ".join(result.output.split())


def test_missing_hub_column_names_the_columns_found(tmp_path):
    root = write_hub_dir(tmp_path / "d", {"train": topic_rows(20), "test": topic_rows(5)})
    with pytest.raises(HarnessError, match=r"has no text column 'sentence'; columns found: text, label"):
        Sst2(path=str(root), test_split="test", **SMALL).data()


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".json", ".parquet"])
def test_local_files_in_every_format_give_the_same_data(tmp_path, suffix):
    rows = topic_rows(80)
    csv = LocalText(train=str(write_local(tmp_path / "train.csv", rows)), **SMALL).data()
    other = LocalText(train=str(write_local(tmp_path / f"train{suffix}", rows)), **SMALL).data()
    assert other.train.inputs.equal(csv.train.inputs) and other.test.labels.equal(csv.test.labels)
    assert (len(csv.train), len(csv.val), len(csv.test)) == (65, 7, 8)
    assert csv.num_classes == 3


def test_local_with_its_own_test_file_and_custom_columns(tmp_path):
    rename = lambda rows: [{"body": r["text"], "topic": r["label"]} for r in rows]  # noqa: E731
    task = LocalText(train=str(write_local(tmp_path / "train.jsonl", rename(topic_rows(50)))),
                     test=str(write_local(tmp_path / "test.parquet", rename(topic_rows(12, seed=3)))),
                     text_column="body", label_column="topic", **SMALL)
    assert len(task.data().test) == 12


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_local_bad_column_names_the_columns_found(tmp_path, suffix):
    path = write_local(tmp_path / f"train{suffix}", [{"body": r["text"], "label": r["label"]} for r in topic_rows(20)])
    with pytest.raises(HarnessError) as error:
        LocalText(train=str(path)).data()
    assert str(error.value) == (f"{path} has no text column 'text'; columns found: body, label; "
                                "set the task's `text_column` option")
    with pytest.raises(HarnessError, match="has no label column 'topic'; columns found: body, label"):
        LocalText(train=str(path), text_column="body", label_column="topic").data()


@pytest.mark.parametrize(("name", "content", "says"), [
    ("empty.csv", "", "No columns to parse"),
    ("broken.jsonl", '{"text": "a", "label": 1}\n{"text": ', ""),
    ("fake.parquet", "not parquet at all", ""),
])
def test_an_unreadable_local_file_is_one_clear_error(tmp_path, name, content, says):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(HarnessError) as error:
        LocalText(train=str(path)).data()
    message = str(error.value)
    assert message.startswith(f"cannot read {path} as {path.suffix[1:]}: ") and says in message
    assert "\n" not in message


def test_a_missing_text_is_empty_and_a_missing_label_is_refused(tmp_path):
    rows = topic_rows(40)
    rows[3]["text"] = None
    path = write_local(tmp_path / "train.csv", rows)
    data = LocalText(train=str(path), **SMALL).data()
    assert min(int(split.lengths.min()) for split in (data.train, data.val, data.test)) == 1  # [CLS] alone
    rows[5]["label"] = rows[9]["label"] = None
    with pytest.raises(HarnessError, match=r"train.csv: 2 example\(s\) have no label \(rows 6, 10, counting from 1\)"):
        LocalText(train=str(write_local(path, rows)), **SMALL).data()


def test_test_labels_never_seen_in_training_are_refused(tmp_path):
    train = write_local(tmp_path / "train.csv", [r for r in topic_rows(40) if r["label"] != "film"])
    test = write_local(tmp_path / "test.csv", topic_rows(10))
    with pytest.raises(HarnessError, match=r"labels \['film'\] occur outside the training split"):
        LocalText(train=str(train), test=str(test), **SMALL).data()


def test_labels_mixing_numbers_and_strings_are_refused(tmp_path):
    rows = [{"text": r["text"], "label": 1 if r["label"] == "film" else r["label"]} for r in topic_rows(40)]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))  # pandas would write 1 as "1"
    with pytest.raises(HarnessError, match=r"labels must be all numbers or all strings, but got both, e\.g\. 1 and '"):
        LocalText(train=str(path), **SMALL).data()


def test_missing_or_unknown_local_files_stop_the_spec(tmp_path):
    (tmp_path / "train.txt").write_text("hello\n")
    spec = {"name": "t", "tasks": [{"name": "local", "train": str(tmp_path / "nope.csv")},
                                   {"name": "local", "label": "b", "train": str(tmp_path / "train.txt")}],
            "strategies": ["random"], "seeds": [0], "budget": {"trials": 1, "epochs": 1}}
    with pytest.raises(SpecError) as error:
        build_plan(parse_spec(spec))
    assert any(p.startswith("tasks[0].train:") and "nope.csv: no such file" in p for p in error.value.problems)
    assert any(p.startswith("tasks[1].train:") and "unknown file type '.txt'; allowed: .csv, .jsonl" in p
               for p in error.value.problems)


def test_text_tasks_are_registered_with_both_families():
    assert {"ag_news", "imdb", "sst2", "local"} <= set(tasks.names())
    assert AgNews(model_family="transformer").label == "ag_news-transformer"
