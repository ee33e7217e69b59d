"""Choose where tensors live: CUDA, then Apple MPS, then the CPU."""

from __future__ import annotations

import os

import torch

DEVICE_ENV_VAR = "DDPM_DEVICE"
DEVICE_NAMES = ("auto", "cuda", "mps", "cpu")


def get_device(preferred: str | None = None) -> torch.device:
    """Return the device to run on.

    ``preferred`` (or the environment variable ``DDPM_DEVICE`` when it is None) may be ``auto``,
    ``cuda``, ``cuda:N``, ``mps`` or ``cpu``. ``auto`` picks CUDA if available, then MPS, then the CPU.
    Asking for a device that is not available raises ValueError instead of silently using another.
    """
    choice = preferred if preferred is not None else os.environ.get(DEVICE_ENV_VAR, "auto")
    if not isinstance(choice, str):
        raise TypeError(f"device must be given as a string such as 'cpu', got {type(choice).__name__}")
    choice = choice.strip().lower()
    base = choice.split(":", 1)[0]
    if base not in DEVICE_NAMES:
        raise ValueError(f"unknown device {choice!r}; expected one of {DEVICE_NAMES} (or 'cuda:N')")

    mps_available = hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    if base == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available:
            return torch.device("mps")
        return torch.device("cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {choice!r} was requested but CUDA is not available; use 'cpu' or 'auto'")
    if base == "mps" and not mps_available:
        raise ValueError(f"device {choice!r} was requested but Apple MPS is not available; use 'cpu' or 'auto'")
    return torch.device(choice)


def describe_device(device: torch.device) -> str:
    """Return a one-line human description, such as 'cuda (NVIDIA H200)' or 'cpu (2 threads)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type


def synchronize(device: torch.device | str) -> None:
    """Wait until all queued work on ``device`` has finished; a no-op on the CPU.

    CUDA and MPS run kernels asynchronously, so a clock read right after a call would time only
    the launch. Call this before each clock read when timing code on those devices.
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
