"""ddpm_lib: a small, readable library behind the DDPM teaching notebooks.

One idea per module: ``schedules`` (noise schedule, forward process, conversions), ``sampling``
(DDPM and DDIM), ``models`` (MLP and U-Net), ``data`` (toy sets and digits) and ``device``.
"""

from .data import load_digits, make_toy_dataset
from .device import get_device
from .models import MLPDenoiser, UNet, timestep_embedding
from .sampling import SamplerOutput, StepOutput, ddim_sample, ddim_step, ddpm_sample, ddpm_step, timestep_grid
from .schedules import NoiseSchedule

__all__ = [
    "NoiseSchedule",
    "ddpm_sample",
    "ddim_sample",
    "ddpm_step",
    "ddim_step",
    "timestep_grid",
    "StepOutput",
    "SamplerOutput",
    "MLPDenoiser",
    "UNet",
    "timestep_embedding",
    "load_digits",
    "make_toy_dataset",
    "get_device",
]
