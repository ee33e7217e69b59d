"""Tests for ddpm_lib.device.get_device: explicit names, auto fallback and DDPM_DEVICE.

Availability of CUDA and MPS is monkeypatched, so the expected device follows from the
documented order (CUDA, then MPS, then the CPU) on any machine.
"""

import pytest
import torch

from ddpm_lib.device import DEVICE_ENV_VAR, describe_device, get_device


@pytest.fixture
def cpu_only(monkeypatch):
    monkeypatch.delenv(DEVICE_ENV_VAR, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_cpu_by_name(cpu_only):
    assert get_device("cpu") == torch.device("cpu")
    assert get_device(" CPU ") == torch.device("cpu")


def test_auto_falls_back_to_cpu(cpu_only):
    assert get_device() == torch.device("cpu")
    assert get_device("auto") == torch.device("cpu")


def test_auto_prefers_cuda_then_mps(monkeypatch, cpu_only):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert get_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device("auto") == torch.device("cuda")


@pytest.mark.parametrize("name", ["cuda", "cuda:1", "mps"])
def test_unavailable_device_rejected(cpu_only, name):
    with pytest.raises(ValueError, match=rf"device '{name}' was requested but .* is not available"):
        get_device(name)


@pytest.mark.parametrize("name", ["tpu", "gpu", ""])
def test_unknown_device_rejected(cpu_only, name):
    with pytest.raises(ValueError, match=rf"unknown device '{name}'; expected one of"):
        get_device(name)


def test_non_string_rejected(cpu_only):
    with pytest.raises(TypeError, match="got int"):
        get_device(0)


def test_environment_variable_honoured(monkeypatch, cpu_only):
    monkeypatch.setenv(DEVICE_ENV_VAR, "cpu")
    assert get_device() == torch.device("cpu")
    monkeypatch.setenv(DEVICE_ENV_VAR, "cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        get_device()
    # An explicit argument wins over the variable.
    assert get_device("cpu") == torch.device("cpu")


def test_describe_cpu():
    assert describe_device(torch.device("cpu")) == f"cpu ({torch.get_num_threads()} threads)"
