"""Denoising networks: a sinusoidal time embedding, an MLP for 2-D points and a small U-Net.

Every model follows one contract: ``model(x_t, timesteps) -> tensor shaped like x_t``, where
``timesteps`` is a long tensor of shape (B,) with values in [0, T). What the output means (ε, x₀
or v) is decided by how the model is trained, not by the architecture.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Embed integer timesteps as sines and cosines of geometrically spaced frequencies.

    The Transformer's positional encoding (Vaswani et al. 2017), used for t by Ho et al. (2020).
    Args:
        timesteps: shape (B,), integers or floats.
        dim: embedding width, even.
    Returns:
        shape (B, dim): [cos(t·f_0) … cos(t·f_{dim/2−1}), sin(t·f_0) … sin(t·f_{dim/2−1})] with
        f_k = max_period^(−k / (dim/2)).
    """
    if dim % 2 != 0 or dim < 2:
        raise ValueError(f"embedding dim must be an even number ≥ 2, got {dim}")
    if timesteps.ndim != 1:
        raise ValueError(f"timesteps must have shape (B,), got shape {tuple(timesteps.shape)}")
    half = dim // 2
    exponents = torch.arange(half, dtype=torch.float32, device=timesteps.device) / half
    frequencies = torch.exp(-math.log(max_period) * exponents)
    angles = timesteps.float()[:, None] * frequencies[None, :]  # (B, half)
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)


def _check_model_input(x_t: torch.Tensor, timesteps: torch.Tensor, ndim: int, what: str) -> None:
    if not isinstance(x_t, torch.Tensor) or not isinstance(timesteps, torch.Tensor):
        raise TypeError("model inputs must be torch.Tensor objects: model(x_t, timesteps)")
    if x_t.ndim != ndim:
        raise ValueError(f"{what} expects x_t of {ndim} dimensions, got shape {tuple(x_t.shape)}")
    if timesteps.ndim != 1 or timesteps.shape[0] != x_t.shape[0]:
        raise ValueError(
            f"timesteps must have shape ({x_t.shape[0]},) to match the batch, got shape {tuple(timesteps.shape)}"
        )


class MLPDenoiser(nn.Module):
    """A residual MLP for points in ``data_dim`` dimensions (default 2), conditioned on t.

    Input (B, data_dim) and timesteps (B,); output (B, data_dim). Each residual block adds a
    projection of the time embedding before its first layer.
    """

    def __init__(self, data_dim: int = 2, hidden_dim: int = 128, num_blocks: int = 3, time_embed_dim: int = 64):
        super().__init__()
        self.data_dim = data_dim
        self.time_embed_dim = time_embed_dim
        self.time_mlp = nn.Sequential(nn.Linear(time_embed_dim, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, hidden_dim))
        self.input = nn.Linear(data_dim, hidden_dim)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.SiLU(), nn.Linear(hidden_dim, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, hidden_dim))
            for _ in range(num_blocks)
        )
        self.time_proj = nn.ModuleList(nn.Linear(hidden_dim, hidden_dim) for _ in range(num_blocks))
        self.output = nn.Sequential(nn.SiLU(), nn.Linear(hidden_dim, data_dim))

    def forward(self, x_t: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        _check_model_input(x_t, timesteps, 2, "MLPDenoiser")
        if x_t.shape[1] != self.data_dim:
            raise ValueError(f"MLPDenoiser was built for {self.data_dim}-D points, got shape {tuple(x_t.shape)}")
        time = self.time_mlp(timestep_embedding(timesteps, self.time_embed_dim).to(x_t.dtype))
        h = self.input(x_t)
        for block, proj in zip(self.blocks, self.time_proj):
            h = h + block(h + proj(time))
        return self.output(h)


class ResidualBlock(nn.Module):
    """Two 3×3 convolutions with GroupNorm and SiLU, the time embedding added in between."""

    def __init__(self, in_channels: int, out_channels: int, time_dim: int, groups: int = 8):
        super().__init__()
        self.norm1 = nn.GroupNorm(min(groups, in_channels), in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.time_proj = nn.Linear(time_dim, out_channels)
        self.norm2 = nn.GroupNorm(min(groups, out_channels), out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_proj(time)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class UNet(nn.Module):
    """A small U-Net for 1- or 3-channel images of any height and width.

    Each level halves the resolution, so inputs are zero-padded on the bottom and right to a
    multiple of 2^(levels − 1) and the output is cropped back: the output always has the input's
    shape (B, C, H, W).

    Args:
        in_channels: 1 (grey) or 3 (RGB).
        base_channels: width of the first level, a multiple of 8; level i has base_channels · channel_mults[i].
        channel_mults: one entry per resolution level.
        time_embed_dim: width of the time embedding.
    """

    def __init__(
        self,
        in_channels: int = 1,
        base_channels: int = 32,
        channel_mults: tuple[int, ...] = (1, 2, 2),
        time_embed_dim: int = 128,
    ):
        super().__init__()
        if in_channels not in (1, 3):
            raise ValueError(f"in_channels must be 1 or 3, got {in_channels}")
        if len(channel_mults) < 1:
            raise ValueError("channel_mults needs at least one level")
        # GroupNorm uses 8 groups, so every width and every skip concatenation must be divisible by 8.
        if base_channels < 8 or base_channels % 8 != 0:
            raise ValueError(f"base_channels must be a positive multiple of 8 (GroupNorm uses 8 groups), got {base_channels}")
        self.in_channels = in_channels
        self.time_embed_dim = time_embed_dim
        self.num_levels = len(channel_mults)
        self.time_mlp = nn.Sequential(
            nn.Linear(time_embed_dim, time_embed_dim), nn.SiLU(), nn.Linear(time_embed_dim, time_embed_dim)
        )
        self.input = nn.Conv2d(in_channels, base_channels, 3, padding=1)

        widths = [base_channels * mult for mult in channel_mults]
        self.down_blocks = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        channels = base_channels
        for level, width in enumerate(widths):
            self.down_blocks.append(ResidualBlock(channels, width, time_embed_dim))
            channels = width
            is_last = level == len(widths) - 1
            self.downsamples.append(nn.Identity() if is_last else nn.Conv2d(width, width, 3, stride=2, padding=1))

        self.middle = ResidualBlock(channels, channels, time_embed_dim)

        self.up_blocks = nn.ModuleList()
        self.upsamples = nn.ModuleList()
        for level in reversed(range(len(widths))):
            width = widths[level]
            self.up_blocks.append(ResidualBlock(channels + width, width, time_embed_dim))
            channels = width
            is_first = level == 0
            self.upsamples.append(nn.Identity() if is_first else nn.Upsample(scale_factor=2, mode="nearest"))

        self.output = nn.Sequential(
            nn.GroupNorm(min(8, channels), channels), nn.SiLU(), nn.Conv2d(channels, in_channels, 3, padding=1)
        )

    def forward(self, x_t: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        _check_model_input(x_t, timesteps, 4, "UNet")
        if x_t.shape[1] != self.in_channels:
            raise ValueError(
                f"UNet was built for {self.in_channels}-channel images (B, {self.in_channels}, H, W), "
                f"got shape {tuple(x_t.shape)}"
            )
        height, width = x_t.shape[-2:]
        multiple = 2 ** (self.num_levels - 1)
        pad_h, pad_w = (-height) % multiple, (-width) % multiple
        x = F.pad(x_t, (0, pad_w, 0, pad_h))

        time = self.time_mlp(timestep_embedding(timesteps, self.time_embed_dim).to(x_t.dtype))
        h = self.input(x)
        skips = []
        for block, down in zip(self.down_blocks, self.downsamples):
            h = block(h, time)
            skips.append(h)
            h = down(h)
        h = self.middle(h, time)
        for block, up in zip(self.up_blocks, self.upsamples):
            h = block(torch.cat([h, skips.pop()], dim=1), time)
            h = up(h)
        return self.output(h)[..., :height, :width]


def count_parameters(model: nn.Module) -> int:
    """Return the number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
