"""Pure radio physics for the twin (numpy only; no simpy, torch, pandas or pydantic).

Stateless physics are vectorised functions (arrays in, arrays out, numpy broadcasting, units in
the names); state that must stay consistent along a trajectory lives in small classes
(``ShadowingProcess``, ``LosProcess``, ``Association``). Path-loss models are records in a registry
(``PATHLOSS_MODELS``); technology presets implement one ``Preset`` interface; ``twin.radio.model.RadioModel`` composes
them into the radio state of a scenario. See docs/radio.md.
"""

from .association import Association, best_server
from .nr import max_rbs, nr_peak_rate_bps, nr_rate_bps, numerology, overhead
from .pathloss import (
    LOS_PROBABILITY_MODELS,
    PATHLOSS_MODELS,
    PathLossModel,
    los_probability,
    pathloss_db,
    pathloss_model,
    register_pathloss_model,
)
from .presets import PRESETS, LinkQuality, NrPreset, Preset, TablePreset, get_preset, user_rate_bps
from .shadowing import (
    LosProcess,
    ShadowingProcess,
    decorrelation_distance_m,
    los_decorrelation_distance_m,
    o2i_car_loss_db,
    shadow_sigma_db,
)
from .sinr import (
    UE_TX_POWER_DBM,
    candidate_sinr_db,
    dbm_to_mw,
    downlink_noise_dbm,
    downlink_rx_power_dbm,
    mw_to_dbm,
    rx_power_dbm,
    sinr_db,
    uplink_noise_dbm,
    uplink_rx_power_dbm,
    uplink_sinr_db,
)
from .spectral import (
    GNB_NOISE_FIGURE_DB,
    UE_NOISE_FIGURE_DB,
    attenuated_shannon,
    cqi_from_sinr,
    cqi_gamma,
    cqi_spectral_efficiency,
    cqi_table,
    noise_power_dbm,
    spectral_efficiency,
)

__all__ = [
    "Association",
    "GNB_NOISE_FIGURE_DB",
    "LOS_PROBABILITY_MODELS",
    "LinkQuality",
    "LosProcess",
    "NrPreset",
    "PATHLOSS_MODELS",
    "PRESETS",
    "PathLossModel",
    "Preset",
    "ShadowingProcess",
    "TablePreset",
    "UE_NOISE_FIGURE_DB",
    "UE_TX_POWER_DBM",
    "attenuated_shannon",
    "best_server",
    "candidate_sinr_db",
    "cqi_from_sinr",
    "cqi_gamma",
    "cqi_spectral_efficiency",
    "cqi_table",
    "dbm_to_mw",
    "decorrelation_distance_m",
    "downlink_noise_dbm",
    "downlink_rx_power_dbm",
    "get_preset",
    "los_decorrelation_distance_m",
    "los_probability",
    "max_rbs",
    "mw_to_dbm",
    "noise_power_dbm",
    "nr_peak_rate_bps",
    "nr_rate_bps",
    "numerology",
    "o2i_car_loss_db",
    "overhead",
    "pathloss_db",
    "pathloss_model",
    "register_pathloss_model",
    "rx_power_dbm",
    "shadow_sigma_db",
    "sinr_db",
    "spectral_efficiency",
    "uplink_noise_dbm",
    "uplink_rx_power_dbm",
    "uplink_sinr_db",
    "user_rate_bps",
]
