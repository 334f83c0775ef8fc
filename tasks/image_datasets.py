"""CIFAR-10/100, MNIST and Fashion-MNIST through `torchvision.datasets`, held on the device as uint8.

The files are torchvision's own (downloaded with `download: true`, or put under `root:` by hand on
an offline cluster); the validation split is carved from the training set with a seed, so the test
set is never used for selection. Normalisation uses the training part's per-channel statistics.
"""

from __future__ import annotations

import os
import shutil
import socket
import tarfile
import tempfile
import zlib
from abc import abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from harness.errors import HarnessError, wording
from harness.optim import optimizers, training_space
from harness.space import Choice, Float, Space
from harness.task import Data, Task, tasks
from tasks.image_models import DEFAULT_DEPTH, DEPTHS, FAMILIES
from tasks.image_split import ImageSplit, channel_stats

if TYPE_CHECKING:
    from torchvision.datasets import VisionDataset

# What torchvision's idx reader raises on a damaged MNIST-format file (it checks the header with asserts and reads
# it with int()); there is no checksum to catch it first, as CIFAR's md5 sums do (a RuntimeError)
DAMAGED = (ValueError, KeyError, AssertionError)
SCRATCH = ".unpacking-"  # an unpack's scratch folder: this, the "host:pid" unpacking into it, "-", a random part


@dataclass(frozen=True)
class Files:
    """The files torchvision reads in `folder`, their home page, the archives that hold them (each with the
    names of the files it holds), and the md5 sums of the real files where torchvision knows them (CIFAR's)."""

    folder: Path
    names: list[str]
    url: str
    archives: dict[Path, list[str]]
    md5s: dict[str, str] = field(default_factory=dict)

    def missing(self, names: Iterable[str] | None = None) -> list[str]:
        """Those of `names` (by default, all the files) that are not in the folder."""
        return [name for name in (self.names if names is None else names) if not (self.folder / name).is_file()]

    def damaged(self) -> list[str]:
        """The files in the folder whose md5 sum is not the real file's."""
        from torchvision.datasets.utils import check_integrity

        return [name for name, md5 in self.md5s.items()
                if (self.folder / name).is_file() and not check_integrity(str(self.folder / name), md5)]


class TorchvisionDataset:
    """The torchvision data set class of a name, imported when first asked for, not when the tasks register (every
    `harness` command does), since importing torchvision takes 1.5 s."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, instance: object, owner: type) -> type[VisionDataset]:
        from torchvision import datasets

        return getattr(datasets, self.name)


class ImageDataset(Task):
    """A torchvision image data set with the CIFAR-style VGG or ResNet families."""

    source: ClassVar[TorchvisionDataset]
    crop_padding: ClassVar[int] = 0  # the data set's standard augmentation: random crop with this padding ...
    flips: ClassVar[bool] = False  # ... and horizontal flips (not for digits: a mirrored digit is another glyph)

    root: str = "data"  # where the files are (or go, with download: true); ~ is expanded
    download: bool = False  # fetch missing files from the data set's home page (needs internet)
    model_family: Literal["resnet", "vgg"] = "resnet"
    val_size: int = Field(5000, gt=0)  # validation images carved from the training set
    train_size: int | None = Field(None, gt=0)  # use only this many of the remaining training images (seeded)
    split_seed: int = 0  # fixed, so every trial and strategy sees the same splits
    augment: bool = True  # the standard augmentation in training epochs, where the data set has one

    @property
    def label(self) -> str:
        return f"{super().label}-{self.model_family}"

    def space(self) -> Space:
        return Space({
            **training_space(optimizer_choices=tuple(optimizers.names()), default_optimizer="sgd",
                             batch_sizes=(16, 32, 64, 128, 256, 512, 1024), default_batch_size=128),
            "depth": Choice(default=DEFAULT_DEPTH[self.model_family], choices=DEPTHS[self.model_family]),
            "width": Choice(default=1.0, choices=(0.25, 0.5, 1.0)),  # multiplies every layer's channels
            "dropout": Float(default=0.0, low=0.0, high=0.5),
            "label_smoothing": Float(default=0.0, low=0.0, high=0.2),
        })

    def space_problems(self, space: Space) -> list[str]:
        """Depths the model family has no member of: every trial that drew one would fail, so the spec is refused."""
        allowed = DEPTHS[self.model_family]
        return [f"depth must be one of {', '.join(map(str, allowed))} for the {self.model_family} family, "
                f"but got {depth!r}" for depth in space["depth"].grid(0) if depth not in allowed]

    @abstractmethod
    def required_files(self) -> Files:
        """The files torchvision reads, where they come from, and the archives they come in."""

    def data(self) -> Data:
        train_set, test_set = self._load(train=True), self._load(train=False)
        num_classes = len(train_set.classes)
        images, labels = _tensors(train_set)
        del train_set  # its own array of the images: `_tensors` copied colour ones channels-first (150 MB on CIFAR)
        order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(self.split_seed))
        if self.val_size >= len(labels):
            raise HarnessError(f"{self.label}: val_size must be below the {len(labels)} training images, "
                               f"but got {self.val_size}")
        if self.train_size is not None and self.train_size > len(labels) - self.val_size:
            raise HarnessError(f"{self.label}: train_size can be at most the {len(labels) - self.val_size} training "
                               f"images val_size leaves, but got {self.train_size}")
        val, train = order[:self.val_size], order[self.val_size:][:self.train_size]
        train_images = images[train]  # gathered once: a copy of the training set (138 MB on CIFAR-10)
        mean, std = channel_stats(train_images)
        augment = {"pad": self.crop_padding, "flip": self.flips} if self.augment else {}
        test_images, test_labels = _tensors(test_set)
        return Data(ImageSplit(train_images, labels[train], mean, std, **augment),
                    ImageSplit(images[val], labels[val], mean, std),
                    ImageSplit(test_images, test_labels, mean, std), num_classes=num_classes)

    def model(self, config: Mapping[str, Any], data: Data) -> nn.Module:
        model = FAMILIES[self.model_family](config["depth"], in_channels=data.train.inputs.shape[1],
                                            num_classes=data.num_classes, width=config["width"],
                                            dropout=config["dropout"])
        return model.to(memory_format=torch.channels_last) if data.train.inputs.is_cuda else model

    def _load(self, train: bool) -> VisionDataset:
        """torchvision's loader; a missing or damaged file is one message saying what, where and how to fix it.

        Archives already under `root` (copied by hand to an offline machine) that hold a missing file are unpacked
        first; a file already there is never replaced.
        """
        files = self.required_files()
        for folder in {archive.parent for archive in files.archives}:
            _remove_abandoned_scratch(folder)
        for archive, held in files.archives.items():
            wanted = files.missing(held)
            if wanted and archive.is_file():
                self._unpack(archive, files.folder, wanted)
        missing = files.missing()
        if missing and not self.download:
            words = wording()
            raise HarnessError(
                f"{self.label}: {len(missing)} file(s) missing in {files.folder}: {', '.join(missing)}; "
                f"{words.set_option('download', True)} (needs internet), or put the files from {files.url} there, "
                f"or the archive(s) they come in as {', '.join(map(str, files.archives))}; {words.option('root')} "
                f"is the directory that holds {files.folder.relative_to(Path(self.root).expanduser())}")
        try:
            dataset = self.source(str(Path(self.root).expanduser()), train=train, download=self.download)
        except (RuntimeError, OSError, *DAMAGED) as error:  # also: a checksum mismatch, an unreachable host
            if not self.download:  # with it, torchvision unpacks its archive over damaged files, or says why not
                self._refuse_damaged(files)
            # one line: torchvision's failed MNIST download says on three which mirror it tried and what it got
            what = f"a damaged file ({error!r})" if isinstance(error, DAMAGED) else " ".join(str(error).split())
            raise HarnessError(f"{self.label}: cannot load the files in {files.folder} (from {files.url}): "
                               f"{what}") from None
        problem = _disagreement(dataset)
        if problem:
            raise HarnessError(f"{self.label}: the {'training' if train else 'test'} files in {files.folder} hold "
                               f"{problem}; one of them is damaged, replace it with the one from {files.url}")
        return dataset

    def _refuse_damaged(self, files: Files) -> None:
        """Name the files whose md5 sum is not the real file's: torchvision's message ("not found or corrupted")
        names none, and a damaged file stays, as an archive under `root` is unpacked for missing files only."""
        damaged = files.damaged()
        if damaged:
            raise HarnessError(
                f"{self.label}: {len(damaged)} damaged file(s) in {files.folder}, not the real ones by their md5 sums: "
                f"{', '.join(damaged)}; delete them and load again with the archive(s) they come in as "
                f"{', '.join(map(str, files.archives))}, or {wording().set_option('download', True)} (needs "
                f"internet), or put the files from {files.url} there")

    def _unpack(self, archive: Path, folder: Path, names: list[str]) -> None:
        """Unpack into a scratch folder beside the archive, then move only `names` into `folder`. torchvision writes
        each file as it reads the archive, so a damaged one leaves a file empty or cut short; unpacked in place, it
        replaced a good file of the same name, or was taken for the real one by the next run. The scratch folder's
        name holds this process's "host:pid" (taken now, not at import, so a forked process names itself): what a
        killed unpack leaves, a later load removes (`_remove_abandoned_scratch`)."""
        from torchvision.datasets.utils import extract_archive

        owner = f"{socket.gethostname()}:{os.getpid()}"  # the form harness.claims.worker_is_dead reads
        with tempfile.TemporaryDirectory(prefix=f"{SCRATCH}{owner}-", dir=archive.parent) as scratch:
            try:
                extract_archive(str(archive), scratch)
            except (OSError, EOFError, tarfile.TarError, zlib.error) as error:
                raise HarnessError(f"{self.label}: cannot unpack {archive}: {error}; replace or delete it") from None
            unpacked = Path(scratch) / folder.relative_to(archive.parent)
            folder.mkdir(parents=True, exist_ok=True)
            for name in names:
                if (unpacked / name).is_file():  # else it stays missing, and is named so
                    (unpacked / name).replace(folder / name)


class CIFAR(ImageDataset):
    """CIFAR's python pickles (data_batch_1..5, test_batch, and the metadata) in torchvision's folder."""

    crop_padding: ClassVar[int] = 4
    flips: ClassVar[bool] = True

    def required_files(self) -> Files:
        source, root = self.source, Path(self.root).expanduser()
        md5s = {name: md5 for name, md5 in source.train_list + source.test_list}
        md5s[source.meta["filename"]] = source.meta["md5"]
        return Files(root / source.base_folder, list(md5s), source.url, {root / source.filename: list(md5s)}, md5s)


class MNISTLike(ImageDataset):
    """MNIST's idx files (unpacked from their .gz) in torchvision's <Class>/raw folder, or the tensors torchvision
    before 0.9 saved in <Class>/processed, which torchvision still reads first where they are."""

    def required_files(self) -> Files:
        home, url = Path(self.root).expanduser() / self.source.__name__, self.source.mirrors[0]
        legacy = Files(home / "processed", [self.source.training_file, self.source.test_file], url, {})
        if not legacy.missing():
            return legacy
        archives = [home / "raw" / name for name, _ in self.source.resources]  # the .gz files torchvision downloads
        return Files(home / "raw", [archive.stem for archive in archives], url,
                     {archive: [archive.stem] for archive in archives})


def _remove_abandoned_scratch(folder: Path) -> None:
    """Remove the scratch folders in `folder` of unpacks killed before they could clean up, which stayed for good.

    Several processes may load a data set at once, so a folder goes only when the "host:pid" in its name is a process
    of this host that is gone: the name is given when the folder is made, so no live unpack is ever without it. A
    folder of another host sharing the root (whose processes cannot be checked from here), of a pid a new process has
    been given since, or named by an older version without an owner, is left.
    """
    leftovers = list(folder.glob(f"{SCRATCH}*"))
    if not leftovers:
        return
    from harness.claims import worker_is_dead  # it imports SQLAlchemy: only when there is a leftover
    for scratch in leftovers:
        if worker_is_dead(scratch.name.removeprefix(SCRATCH).rpartition("-")[0]):
            shutil.rmtree(scratch, ignore_errors=True)  # another process may be removing it too


def _disagreement(dataset: VisionDataset) -> str:
    """How images, labels and classes disagree, or "". MNIST's images and labels are two files with no checksum:
    a damaged one failed later, in the split, or in every trial with a label outside the classes (on a GPU, a
    device-side assert that ends the process)."""
    labels, classes = torch.as_tensor(np.asarray(dataset.targets)), len(dataset.classes)
    if len(dataset.data) != len(labels):
        return f"{len(dataset.data)} images but {len(labels)} labels"
    outside = labels[(labels < 0) | (labels >= classes)]
    return f"label {outside[0].item()}, outside the classes 0..{classes - 1}" if len(outside) else ""


def _tensors(dataset: VisionDataset) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (N, C, H, W) and int64 labels from a torchvision data set's in-memory arrays."""
    images = torch.as_tensor(np.asarray(dataset.data))
    images = images.unsqueeze(1) if images.dim() == 3 else images.permute(0, 3, 1, 2)  # grey (N, H, W) or HWC
    return images.contiguous(), torch.as_tensor(np.asarray(dataset.targets), dtype=torch.long)


@tasks.register("cifar10")
class CIFAR10(CIFAR):
    """CIFAR-10 (Krizhevsky, 2009): 50,000 + 10,000 32x32 colour images of 10 classes; crop and flip."""

    source = TorchvisionDataset("CIFAR10")


@tasks.register("cifar100")
class CIFAR100(CIFAR):
    """CIFAR-100 (Krizhevsky, 2009): 50,000 + 10,000 32x32 colour images of 100 classes; crop and flip."""

    source = TorchvisionDataset("CIFAR100")


@tasks.register("mnist")
class MNIST(MNISTLike):
    """MNIST (LeCun et al., 1998): 60,000 + 10,000 28x28 handwritten digits; no augmentation."""

    source = TorchvisionDataset("MNIST")


@tasks.register("fashion_mnist")
class FashionMNIST(MNISTLike):
    """Fashion-MNIST (Xiao et al., 2017): 60,000 + 10,000 28x28 clothing images of 10 classes; no augmentation."""

    source = TorchvisionDataset("FashionMNIST")
