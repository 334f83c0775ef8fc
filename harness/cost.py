"""What a trial cost: device seconds, and on NVIDIA GPUs the energy NVML's counter says it used.

A strategy comparison then reads as accuracy per unit of compute. Energy needs the optional
`nvidia-ml-py` package (the `gpu` extra); without it, or on other devices, no energy is recorded.
NVML's counter is the whole GPU's, so a worker that shares its GPU with other workers (the executors
set SHARED_GPU in its environment) records no energy rather than the other workers' too.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

import torch

from harness.trainer import seconds_since


SHARED_GPU = "HARNESS_SHARED_GPU"  # "1" in a worker whose GPU other workers train on at the same time


def meters_energy() -> bool:
    """Whether this process's trials may record energy: not where other workers draw from the same counter."""
    return os.environ.get(SHARED_GPU) != "1"


@cache
def _nvml_handle(device: torch.device) -> Any | None:
    """The NVML handle of a CUDA device (found by PCI bus id, so CUDA_VISIBLE_DEVICES cannot confuse it)."""
    if device.type != "cuda":
        return None
    try:
        import pynvml

        pynvml.nvmlInit()
        props = torch.cuda.get_device_properties(device)
        handle = pynvml.nvmlDeviceGetHandleByPciBusId(
            f"{props.pci_domain_id:08X}:{props.pci_bus_id:02X}:{props.pci_device_id:02X}.0")
        pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)  # older GPUs lack the counter
        return handle
    except Exception:  # no package, no driver, no counter: energy is simply not recorded
        return None


def energy_joules(device: torch.device) -> float | None:
    """The device's energy counter in joules since the driver loaded, or None where there is none."""
    handle = _nvml_handle(device)
    if handle is None:
        return None
    import pynvml

    return pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0  # millijoules


@dataclass
class Cost:
    seconds: float = 0.0
    joules: float | None = None

    def attrs(self, share: float = 1.0) -> dict[str, float]:
        """User attributes for a trial that used `share` of what was metered."""
        attrs = {"device_seconds": self.seconds * share}
        if self.joules is not None:
            attrs["energy_joules"] = self.joules * share
        return attrs


@contextmanager
def metered(device: torch.device) -> Iterator[Cost]:
    """Meter the block's device seconds (queued work included) and energy, also when it raises."""
    cost = Cost()
    start, energy = time.perf_counter(), energy_joules(device) if meters_energy() else None
    try:
        yield cost
    finally:
        cost.seconds = seconds_since(start, device)
        if energy is not None:
            cost.joules = energy_joules(device) - energy
