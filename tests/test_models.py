"""Tests for ddpm_lib.models: the time embedding, the MLP denoiser and the U-Net.

Expected shapes come from the model contract ``model(x_t, timesteps) -> tensor shaped like x_t``;
expected embedding values come from the sinusoidal formula of Vaswani et al. (2017),
[cos(t·f_k), sin(t·f_k)] with f_k = 10000^(−k / (dim/2)), evaluated with ``math``.
"""

import math

import pytest
import torch

from ddpm_lib.models import MLPDenoiser, UNet, count_parameters, timestep_embedding


def test_embedding_hand_values():
    # dim = 4: half = 2, f_0 = 1 and f_1 = 10000^(−1/2) = 0.01.
    embedding = timestep_embedding(torch.tensor([0, 1, 250]), 4)
    expected = torch.tensor(
        [[math.cos(t), math.cos(0.01 * t), math.sin(t), math.sin(0.01 * t)] for t in (0, 1, 250)]
    )
    assert embedding.shape == (3, 4)
    torch.testing.assert_close(embedding, expected, rtol=0, atol=1e-5)


def test_embedding_wide_hand_values():
    # dim = 8: f_k = 10000^(−k/4) = 1, 0.1, 0.01, 0.001, checked at t = 999.
    embedding = timestep_embedding(torch.tensor([999]), 8)[0]
    frequencies = [1.0, 0.1, 0.01, 0.001]
    expected = [math.cos(999 * f) for f in frequencies] + [math.sin(999 * f) for f in frequencies]
    # float32 angles near 999 carry an absolute error of about 6e-5 rad.
    torch.testing.assert_close(embedding, torch.tensor(expected), rtol=0, atol=2e-4)


@pytest.mark.parametrize("dim, shape", [(3, (2,)), (0, (2,)), (4, (2, 1))])
def test_embedding_rejects_bad_input(dim, shape):
    with pytest.raises(ValueError, match=r"even number|shape \(B,\)"):
        timestep_embedding(torch.zeros(shape, dtype=torch.long), dim)


def test_mlp_output_shape():
    model = MLPDenoiser()
    output = model(torch.randn(5, 2), torch.randint(0, 1000, (5,)))
    assert output.shape == (5, 2)
    assert count_parameters(model) > 0


def test_mlp_rejects_wrong_point_dimension():
    with pytest.raises(ValueError, match=r"built for 2-D points, got shape \(5, 3\)"):
        MLPDenoiser()(torch.randn(5, 3), torch.zeros(5, dtype=torch.long))


@pytest.fixture(scope="module")
def small_unets():
    torch.manual_seed(0)
    return {channels: UNet(in_channels=channels, base_channels=8, time_embed_dim=16) for channels in (1, 3)}


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("height, width", [(8, 8), (16, 16), (28, 28), (32, 32), (13, 7), (1, 1), (5, 9)])
def test_unet_output_matches_input_shape(small_unets, channels, height, width):
    x_t = torch.randn(2, channels, height, width)
    with torch.no_grad():
        output = small_unets[channels](x_t, torch.tensor([0, 999]))
    assert output.shape == x_t.shape


def test_unet_default_config_on_digits_shape():
    model = UNet()
    with torch.no_grad():
        output = model(torch.randn(2, 1, 16, 16), torch.tensor([3, 7]))
    assert output.shape == (2, 1, 16, 16)


def test_unet_output_depends_on_timestep(small_unets):
    # The time embedding must reach the output: same x_t, different t, different prediction.
    x_t = torch.randn(1, 1, 8, 8).expand(2, -1, -1, -1)
    with torch.no_grad():
        output = small_unets[1](x_t, torch.tensor([0, 500]))
    assert not torch.allclose(output[0], output[1])


def run_counting_layers(model, *inputs):
    """Call ``model`` and return how many of its submodules ran before it returned or raised."""
    calls = []
    handles = [m.register_forward_pre_hook(lambda *_: calls.append(1)) for m in model.modules() if m is not model]
    try:
        model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return len(calls)


@pytest.mark.parametrize(
    "x_shape, t_shape, pattern",
    [
        ((2, 3, 8, 8), (2,), r"built for 1-channel images .* got shape \(2, 3, 8, 8\)"),
        ((2, 8, 8), (2,), r"expects x_t of 4 dimensions, got shape \(2, 8, 8\)"),
        ((2, 1, 8, 8), (3,), r"timesteps must have shape \(2,\).*got shape \(3,\)"),
        ((2, 1, 8, 8), (2, 1), r"timesteps must have shape \(2,\).*got shape \(2, 1\)"),
        ((2, 1, 8, 8), (), r"timesteps must have shape \(2,\).*got shape \(\)"),
    ],
)
def test_unet_rejects_bad_input_before_any_layer(small_unets, x_shape, t_shape, pattern):
    model = small_unets[1]
    calls = []
    handles = [m.register_forward_pre_hook(lambda *_: calls.append(1)) for m in model.modules() if m is not model]
    try:
        with pytest.raises(ValueError, match=pattern):
            model(torch.randn(x_shape), torch.zeros(t_shape, dtype=torch.long))
    finally:
        for handle in handles:
            handle.remove()
    assert calls == [], "a layer ran before the input was rejected"


def test_layer_counter_sees_layers(small_unets):
    # The hooks above would detect a layer running: a valid call runs many.
    assert run_counting_layers(small_unets[1], torch.randn(1, 1, 8, 8), torch.zeros(1, dtype=torch.long)) > 10


def test_unet_rejects_unsupported_channels():
    with pytest.raises(ValueError, match="in_channels must be 1 or 3, got 2"):
        UNet(in_channels=2)


@pytest.mark.parametrize("base_channels", [4, 12, 20])
def test_unet_rejects_base_channels_not_multiple_of_8(base_channels):
    # GroupNorm with 8 groups needs every width, including skip concatenations such as
    # 12 + 24 = 36, to be divisible by 8.
    with pytest.raises(ValueError, match=rf"base_channels must be a positive multiple of 8 .* got {base_channels}"):
        UNet(base_channels=base_channels)


@pytest.mark.parametrize("base_channels, channel_mults", [(8, (1,)), (16, (1, 2)), (24, (1, 3, 2, 1))])
def test_unet_accepts_multiples_of_8(base_channels, channel_mults):
    model = UNet(base_channels=base_channels, channel_mults=channel_mults, time_embed_dim=16)
    with torch.no_grad():
        output = model(torch.randn(1, 1, 12, 10), torch.tensor([5]))
    assert output.shape == (1, 1, 12, 10)
