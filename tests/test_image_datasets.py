"""The torchvision data-set tasks, on tiny files written here in the real formats and read by torchvision.

CIFAR: pickled python batches and their metadata in `cifar-10-batches-py` / `cifar-100-python`;
MNIST and Fashion-MNIST: idx ubyte files in `<Class>/raw`. torchvision checks CIFAR files against
the md5 sums of the real ones, so the tests give it the sums of the tiny files instead.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import socket
import struct
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TABLES_ONLY
from pydantic import ValidationError
from torchvision import datasets
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import HarnessError
from harness.task import tasks
from tasks.digits import IMAGES
from tasks.image_split import ImageSplit

import tasks as _builtins  # noqa: F401 - registers the tasks

TRAIN, TEST = 60, 12  # images in the tiny training and test sets
CLASSES = {"cifar10": 10, "cifar100": 100, "mnist": 10, "fashion_mnist": 10}


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_cifar(root: Path, source: type[datasets.CIFAR10], monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches as dicts of a (n, 3072) uint8 array and a label list, pickled as CIFAR's python version is."""
    folder = root / source.base_folder
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    classes = 100 if source is datasets.CIFAR100 else 10
    label_key = "fine_labels" if source is datasets.CIFAR100 else "labels"
    per_file = TRAIN // len(source.train_list)
    files = [(name, per_file) for name, _ in source.train_list] + [(source.test_list[0][0], TEST)]
    for name, count in files:
        batch = {"batch_label": name, "data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
                 label_key: rng.integers(0, classes, count).tolist(),
                 "filenames": [f"{i}.png" for i in range(count)]}
        (folder / name).write_bytes(pickle.dumps(batch))
    meta = {source.meta["key"]: [f"class_{i}" for i in range(classes)]}
    (folder / source.meta["filename"]).write_bytes(pickle.dumps(meta))
    for attribute in ("train_list", "test_list"):
        monkeypatch.setattr(source, attribute, [[name, md5(folder / name)] for name, _ in getattr(source, attribute)])
    monkeypatch.setattr(source, "meta", {**source.meta, "md5": md5(folder / source.meta["filename"])})


def torn_gzip(data: bytes) -> bytes:
    """`data` gzipped, with the first deflate block's type set to 3, which deflate reserves: zlib fails on it."""
    packed = gzip.compress(data)
    return packed[:10] + b"\x07" + packed[11:]


def write_idx(root: Path, source: type[datasets.MNIST]) -> None:
    """idx3 images (magic 0x803, n, 28, 28) and idx1 labels (magic 0x801, n), big-endian, unpacked."""
    folder = root / source.__name__ / "raw"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for prefix, count in (("train", TRAIN), ("t10k", TEST)):
        pixels = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        header = struct.pack(">IIII", 0x803, count, 28, 28)
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(header + pixels.tobytes())
        labels = rng.integers(0, 10, count, dtype=np.uint8)
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, count) + labels.tobytes())


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data root holding tiny copies of all four data sets."""
    write_cifar(tmp_path, datasets.CIFAR10, monkeypatch)
    write_cifar(tmp_path, datasets.CIFAR100, monkeypatch)
    write_idx(tmp_path, datasets.MNIST)
    write_idx(tmp_path, datasets.FashionMNIST)
    return tmp_path


@pytest.mark.parametrize("name", CLASSES)
def test_loads_the_real_formats_into_uint8_splits(root, name):
    data = tasks.get(name)(root=str(root), val_size=10).data()
    channels, size = (3, 32) if name.startswith("cifar") else (1, 28)
    assert data.num_classes == CLASSES[name]
    assert (len(data.train), len(data.val), len(data.test)) == (TRAIN - 10, 10, TEST)
    for split in (data.train, data.val, data.test):
        assert isinstance(split, ImageSplit) and split.inputs.dtype == torch.uint8
        assert split.inputs.shape[1:] == (channels, size, size) and split.mean.shape == (channels,)
    augmented = name.startswith("cifar")
    assert (data.train.pad, data.train.flip) == ((4, True) if augmented else (0, False))
    assert (data.val.pad, data.val.flip, data.test.pad) == (0, False, 0)  # held-out splits are never augmented


def test_test_split_is_the_test_file_and_validation_comes_from_training(root):
    data = tasks.get("cifar10")(root=str(root), val_size=10).data()
    test_file = pickle.loads((root / "cifar-10-batches-py" / "test_batch").read_bytes())
    assert torch.equal(data.test.inputs.flatten(1), torch.as_tensor(test_file["data"]))
    train_rows = {bytes(x.flatten().tolist()) for x in torch.cat([data.train.inputs, data.val.inputs])}
    assert len(train_rows) == TRAIN and not train_rows & {bytes(x.flatten().tolist()) for x in data.test.inputs}


def test_archives_copied_by_hand_are_unpacked_first(root, tmp_path_factory):
    """An offline machine may hold the downloaded archives only: CIFAR's tar.gz, MNIST's .gz files."""
    packed = tmp_path_factory.mktemp("packed")
    with tarfile.open(packed / datasets.CIFAR10.filename, "w:gz") as archive:
        archive.add(root / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    raw = packed / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for unpacked in (root / "MNIST" / "raw").iterdir():
        (raw / f"{unpacked.name}.gz").write_bytes(gzip.compress(unpacked.read_bytes()))
    expected = {name: tasks.get(name)(root=str(root), val_size=10).data() for name in ("cifar10", "mnist")}
    for name, data in expected.items():
        loaded = tasks.get(name)(root=str(packed), val_size=10).data()
        assert torch.equal(loaded.train.inputs, data.train.inputs) and torch.equal(loaded.test.labels, data.test.labels)


def test_the_processed_tensors_of_an_older_torchvision_are_read(root, tmp_path):
    """torchvision before 0.9 kept MNIST as (images, labels) saved in <Class>/processed; torchvision reads them still,
    and the task refused them as 4 missing files."""
    expected = tasks.get("fashion_mnist")(root=str(root), val_size=10).data()
    processed = tmp_path / "older" / "FashionMNIST" / "processed"
    processed.mkdir(parents=True)
    for name, train in (("training.pt", True), ("test.pt", False)):
        source = datasets.FashionMNIST(str(root), train=train)
        torch.save((source.data, source.targets), processed / name)
    data = tasks.get("fashion_mnist")(root=str(tmp_path / "older"), val_size=10).data()
    for split in ("train", "val", "test"):
        assert torch.equal(getattr(data, split).inputs, getattr(expected, split).inputs)
        assert torch.equal(getattr(data, split).labels, getattr(expected, split).labels)


def test_a_damaged_archive_is_named(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(HarnessError, match=r"fashion_mnist-resnet: cannot unpack .*train-images-idx3-ubyte.gz: "):
        tasks.get("fashion_mnist")(root=str(tmp_path)).data()


def test_an_archive_that_fails_to_unpack_leaves_no_partial_file(root, tmp_path_factory):
    """Damaged compressed data raise zlib's own error; torchvision had opened the file it unpacks to by then, and
    that empty file passed for the real one once the archive was deleted."""
    raw = tmp_path_factory.mktemp("packed") / "MNIST" / "raw"
    raw.mkdir(parents=True)
    archive = raw / "train-images-idx3-ubyte.gz"
    archive.write_bytes(torn_gzip((root / "MNIST" / "raw" / "train-images-idx3-ubyte").read_bytes()))
    with pytest.raises(HarnessError, match=r"cannot unpack .*train-images-idx3-ubyte.gz: .*; replace or delete it"):
        tasks.get("mnist")(root=str(raw.parents[1])).data()
    archive.unlink()
    with pytest.raises(HarnessError, match=r"4 file\(s\) missing in .*raw: train-images-idx3-ubyte, "):
        tasks.get("mnist")(root=str(raw.parents[1])).data()


def test_a_damaged_archive_of_a_file_already_there_leaves_the_file_alone(root):
    """One missing file had every archive under the root unpacked, its own and those of the files already there:
    a damaged .gz beside a good file deleted that file, and a good one rewrote it."""
    expected = tasks.get("mnist")(root=str(root), val_size=10).data()
    raw = root / "MNIST" / "raw"
    images, labels = raw / "train-images-idx3-ubyte", raw / "train-labels-idx1-ubyte"
    good = images.read_bytes()
    (raw / f"{images.name}.gz").write_bytes(torn_gzip(good))
    (raw / f"{labels.name}.gz").write_bytes(gzip.compress(labels.read_bytes()))
    labels.unlink()
    data = tasks.get("mnist")(root=str(root), val_size=10).data()
    assert images.read_bytes() == good
    assert torch.equal(data.train.inputs, expected.train.inputs)
    assert torch.equal(data.train.labels, expected.train.labels)


def test_only_the_missing_files_come_from_an_archive_and_a_torn_one_changes_nothing(root):
    """CIFAR's one archive holds every file: a missing batch had it unpacked over the batches already there, and an
    archive torn inside one of them cut that good file short."""
    folder, archive = root / "cifar-10-batches-py", root / datasets.CIFAR10.filename
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as tar:
        tar.add(folder, arcname=folder.name)  # in name order: batches.meta, data_batch_1, ...
    archive.write_bytes(packed.getvalue()[:len(packed.getvalue()) // 4])  # torn inside data_batch_2
    (folder / "data_batch_3").unlink()
    present = {path.name: path.read_bytes() for path in folder.iterdir()}
    with pytest.raises(HarnessError, match=r"cannot unpack .*cifar-10-python.tar.gz: .*; replace or delete it"):
        tasks.get("cifar10")(root=str(root)).data()
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == present
    assert {path.name for path in root.iterdir()} == {folder.name, archive.name, "cifar-100-python", "MNIST",
                                                       "FashionMNIST"}  # no scratch folder left behind
    archive.write_bytes(packed.getvalue())
    assert len(tasks.get("cifar10")(root=str(root), val_size=10).data().train) == TRAIN - 10
    assert all(folder.joinpath(name).read_bytes() == data for name, data in present.items())


def test_validation_split_is_seeded(root):
    first = tasks.get("mnist")(root=str(root), val_size=10).data()
    again = tasks.get("mnist")(root=str(root), val_size=10).data()
    other = tasks.get("mnist")(root=str(root), val_size=10, split_seed=1).data()
    assert torch.equal(first.val.inputs, again.val.inputs) and torch.equal(first.train.labels, again.train.labels)
    assert not torch.equal(first.val.inputs, other.val.inputs)


def test_train_size_takes_a_subset_and_normalises_with_its_own_statistics(root):
    data = tasks.get("fashion_mnist")(root=str(root), val_size=10, train_size=20).data()
    assert len(data.train) == 20
    assert torch.allclose(data.train.mean, data.train.inputs.double().mean().div(255).float().view(1), atol=1e-5)


@pytest.mark.parametrize("name, folder, first_missing", [
    ("cifar10", "cifar-10-batches-py", "data_batch_1"), ("cifar100", "cifar-100-python", "train"),
    ("mnist", "MNIST/raw", "train-images-idx3-ubyte"),
    ("fashion_mnist", "FashionMNIST/raw", "train-images-idx3-ubyte")])
def test_missing_files_are_named_with_their_folder_and_how_to_get_them(tmp_path, name, folder, first_missing):
    with pytest.raises(HarnessError) as raised:
        tasks.get(name)(root=str(tmp_path)).data()
    message = str(raised.value)
    assert "\n" not in message and f"missing in {tmp_path / folder}: {first_missing}" in message
    assert "download: true" in message and "http" in message
    assert f"or the archive(s) they come in as {tmp_path}/" in message and f"`root:` is the directory that holds {folder}" in message
    assert not any(tmp_path.iterdir())  # nothing written


def test_one_missing_file_among_present_ones_is_the_only_one_named(root):
    (root / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(HarnessError, match=r"1 file\(s\) missing in .*cifar-10-batches-py: data_batch_3; set"):
        tasks.get("cifar10")(root=str(root)).data()


def test_a_scratch_folder_left_by_a_killed_unpack_is_removed_and_a_live_one_kept(root):
    """A process killed while unpacking left its hidden scratch folder beside the archive for good. Other processes
    may be unpacking there at the same time, so only the folder of a process that is gone may be removed."""
    host = socket.gethostname()
    make = f"import os, tempfile; print(tempfile.mkdtemp(prefix=f'.unpacking-{host}:{{os.getpid()}}-', dir='.'))"
    made = subprocess.run([sys.executable, "-c", make], cwd=root, capture_output=True, text=True, check=True)
    abandoned = root / Path(made.stdout.strip()).name  # its process has ended without removing it
    (abandoned / "cifar-10-batches-py").mkdir()
    (abandoned / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"cut short")
    live = Path(tempfile.mkdtemp(prefix=f".unpacking-{host}:{os.getpid()}-", dir=root))  # this process is alive
    elsewhere = root / abandoned.name.replace(host, "another-host")  # its process cannot be checked from here
    elsewhere.mkdir()
    assert len(tasks.get("cifar10")(root=str(root), val_size=10).data().train) == TRAIN - 10
    assert not abandoned.exists() and live.is_dir() and elsewhere.is_dir()


@pytest.mark.parametrize("name, damaged, damage", [("cifar10", "data_batch_1", lambda good: good[:len(good) // 2]),
                                                   ("cifar100", "meta", lambda good: b"not a pickle")],
                         ids=["a batch cut short", "garbage metadata"])
def test_a_damaged_cifar_file_is_named_and_deleting_it_lets_the_archive_put_it_back(root, name, damaged, damage):
    """torchvision said "Dataset not found or corrupted" and named no file; and an archive under the root is unpacked
    for missing files only, so the damaged file stayed until deleted."""
    source = tasks.get(name).source
    folder, archive = root / source.base_folder, root / source.filename
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    (folder / damaged).write_bytes(damage((folder / damaged).read_bytes()))
    with pytest.raises(HarnessError) as raised:
        tasks.get(name)(root=str(root)).data()
    assert str(raised.value) == (
        f"{name}-resnet: 1 damaged file(s) in {folder}, not the real ones by their md5 sums: {damaged}; delete them "
        f"and load again with the archive(s) they come in as {archive}, or set `download: true` in the task entry "
        f"(needs internet), or put the files from {source.url} there")
    (folder / damaged).unlink()
    assert len(tasks.get(name)(root=str(root), val_size=10).data().train) == TRAIN - 10


@pytest.mark.parametrize("damage", [b"", struct.pack(">II", 0x801, TRAIN)], ids=["empty", "a labels header"])
def test_a_damaged_idx_file_is_reported_not_raised_as_a_traceback(root, damage):
    """MNIST's files have no checksum: torchvision's reader meets the damage with a ValueError or a bare assert."""
    (root / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(damage)
    with pytest.raises(HarnessError, match=r"mnist-resnet: cannot load the files in .*MNIST/raw .*: a damaged file "
                                           r"\((ValueError|AssertionError)\("):
        tasks.get("mnist")(root=str(root)).data()


def test_idx_files_of_images_and_labels_that_disagree_in_length_are_named(root):
    """A labels file shorter than its images file broke the test split with a traceback (and a training set silently
    lost its unlabelled images)."""
    (root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, 10) + bytes(range(10)))
    with pytest.raises(HarnessError, match=rf"mnist-resnet: the test files in .*MNIST/raw hold {TEST} images but 10 "
                                           r"labels; one of them is damaged, replace it with the one from http"):
        tasks.get("mnist")(root=str(root), val_size=10).data()


def test_a_failed_download_is_one_line(tmp_path, monkeypatch):
    """torchvision's message for MNIST-format files it could not fetch spans three lines: what, where, and why."""
    monkeypatch.setattr(datasets.FashionMNIST, "mirrors", ["http://127.0.0.1:9/"])  # the discard port: refused at once
    with pytest.raises(HarnessError) as raised:
        tasks.get("fashion_mnist")(root=str(tmp_path), download=True).data()
    message = str(raised.value)
    assert "\n" not in message and "Error downloading train-images-idx3-ubyte.gz: Tried http://127.0.0.1:9/" in message


def test_a_label_outside_the_classes_is_named_before_any_trial(root):
    """A damaged byte in a labels file failed every trial with `Target 200 is out of bounds` (on a GPU, an assert
    that ends the process)."""
    labels = root / "FashionMNIST" / "raw" / "train-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-1] + bytes([200]))
    with pytest.raises(HarnessError, match=r"fashion_mnist-resnet: the training files in .*FashionMNIST/raw hold "
                                           r"label 200, outside the classes 0..9; one of them is damaged"):
        tasks.get("fashion_mnist")(root=str(root), val_size=10).data()


def test_val_size_must_leave_training_images(root):
    with pytest.raises(HarnessError, match="val_size must be below the 60 training images, but got 60"):
        tasks.get("mnist")(root=str(root), val_size=60).data()
    with pytest.raises(HarnessError, match="train_size can be at most the 50 training images val_size leaves, but "
                                           "got 51"):
        tasks.get("mnist")(root=str(root), val_size=10, train_size=51).data()


@pytest.mark.parametrize("fractions", [{"val_fraction": 1e-4}, {"test_fraction": 2e-4},
                                       {"val_fraction": 0.5003, "test_fraction": 0.4996}])
def test_digits_fractions_that_leave_a_split_empty_are_refused(fractions):
    """An empty validation split scored NaN, which failed every trial as diverged; an empty test split gave nan%."""
    with pytest.raises(ValidationError, match="must leave each split at least one of the 1797 images, but got "):
        tasks.get("digits")(**fractions)


def test_digits_smallest_fractions_keep_one_image_and_the_count_is_the_data_sets():
    data = tasks.get("digits")(val_fraction=3e-4, test_fraction=0.5).data()
    assert len(data.val) == 1 and len(data.train) + len(data.val) + len(data.test) == IMAGES


def test_harness_train_runs_a_small_vgg_on_mnist_files(root):
    result = CliRunner().invoke(app, [
        "train", "mnist", "--option", f"root={root}", "--option", "val_size=10", "--option", "model_family=vgg",
        "--set", "width=0.25", "--set", "depth=11", "--set", "batch_size=16", "--epochs", "1", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "mnist-vgg on cpu" in result.output and "test accuracy" in result.output


def test_harness_run_studies_cifar10_end_to_end(root, write_spec, tmp_path):
    spec = {"name": "tiny_cifar", "seeds": [0], "strategies": ["random"], "budget": {"trials": 2, "epochs": 1},
            "device": "cpu", "tasks": [{"name": "cifar10", "root": str(root), "val_size": 10,
                                        "space": {"depth": 18, "width": 0.0625, "batch_size": 32}}]}
    result = CliRunner().invoke(app, ["run", str(write_spec(spec)), "--runs-dir", str(tmp_path / "runs"), *TABLES_ONLY])
    assert result.exit_code == 0, result.output
    results = pd.read_csv(tmp_path / "runs" / "tiny_cifar" / "results.csv")
    assert len(results) == 2 and set(results["task"]) == {"cifar10-resnet"}
    assert (results["state"] == "COMPLETE").all(), results["fail_reason"].tolist()  # trained on the 3-channel images
    assert results[["val_accuracy", "test_accuracy"]].stack().between(0, 1).all() and (results["epochs"] == 1).all()


def test_the_cli_prints_the_missing_files_message_in_its_own_arguments_and_exits_2(tmp_path):
    result = CliRunner().invoke(app, ["train", "cifar10", "--option", f"root={tmp_path}", "--device", "cpu"])
    assert result.exit_code == 2 and "7 file(s) missing" in result.output and "Traceback" not in result.output
    message = " ".join(result.output.split())
    assert "add `--option download=true` (needs internet)" in message and "in the task entry" not in message
    assert "`--option root` is the directory that holds cifar-10-batches-py" in message


def test_channels_last_only_on_cuda(root):
    task = tasks.get("cifar10")(root=str(root), val_size=10)
    data = task.data()
    config = task.space().complete({"width": 0.25})
    model = task.model(config, data)
    assert model[0].weight.is_contiguous()  # CPU: the default layout
    if torch.cuda.is_available():
        cuda_model = task.model(config, data.to(torch.device("cuda")))
        assert cuda_model[0].weight.is_contiguous(memory_format=torch.channels_last)
