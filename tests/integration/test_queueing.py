"""Poisson arrivals of exponential-size transfers on one link form an M/M/1-PS queue: the engine must reproduce the
mean sojourn time E[S] / (1 - rho) (true for any size distribution under processor sharing)."""

import numpy as np
import pytest
import simpy

from twin.net.engine import FlowNetwork
from twin.net.flow import LinkDirection

CAPACITY_BPS = 10e6
MEAN_BYTES = 125_000.0  # 0.1 s of service at full capacity


def mean_sojourn(rho: float, n_jobs: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    service_s = 8 * MEAN_BYTES / CAPACITY_BPS
    gaps = rng.exponential(service_s / rho, size=n_jobs)
    sizes = rng.exponential(MEAN_BYTES, size=n_jobs)
    env = simpy.Environment()
    net = FlowNetwork(env)
    link = net.add_resource(LinkDirection("l", CAPACITY_BPS, 0.0))
    sojourns = np.empty(n_jobs)

    def arrivals():
        for i in range(n_jobs):
            yield env.timeout(gaps[i])
            flow = net.start([link], sizes[i])
            flow.done.callbacks.append(lambda ev, i=i, t0=env.now: sojourns.__setitem__(i, env.now - t0))

    env.process(arrivals())
    env.run()
    warmup = n_jobs // 20
    return float(sojourns[warmup:].mean())


# The sample mean's standard error shrinks slowly at high load (queue lengths are long-correlated): about 3% at
# rho = 0.8 with 30,000 jobs (8 seeds measured), so 250,000 jobs give about 1%, and the 3% bound is ~3 sigma.
@pytest.mark.parametrize(("rho", "n_jobs"), [(0.5, 50_000), (0.8, 250_000)])
def test_mg1_ps_mean_sojourn(rho, n_jobs):
    expected = 0.1 / (1 - rho)
    got = mean_sojourn(rho, n_jobs=n_jobs, seed=2026)
    assert got == pytest.approx(expected, rel=0.03)
