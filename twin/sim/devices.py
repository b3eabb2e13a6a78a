"""Client compute speed: FLOP/s per client from a device profile (``clients.device``) and its heterogeneity."""

from __future__ import annotations

import numpy as np

from twin.scenario import schema as S


def device_flops(cfg: S.DeviceProfile, n: int, rng: np.random.Generator) -> np.ndarray:
    """[n] FLOP/s: ``cfg.flops_per_s`` times a per-client factor (log-normal of mean 1, uniform, or 1)."""
    h = cfg.heterogeneity
    if isinstance(h, S.LogNormalHeterogeneity):
        factor = rng.lognormal(mean=-h.sigma**2 / 2, sigma=h.sigma, size=n)
    elif isinstance(h, S.UniformHeterogeneity):
        factor = rng.uniform(h.low, h.high, size=n)
    else:
        factor = np.ones(n)
    return cfg.flops_per_s * factor
