"""TensorBoard scalars of a run (``output.tensorboard: true``): one event file in the run folder.

Written from the ``rounds`` table once the run is over, through torch's ``SummaryWriter`` (the optional extra
``tensorboard`` installs the package it needs). Each round is a step; the event's wall time is the round's end in
*simulated* seconds, so TensorBoard's "relative" horizontal axis reads simulated time. Point TensorBoard at a folder
of run folders (``tensorboard --logdir runs/``): each run folder is one run there.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pandas as pd

from twin.errors import InputError

# rounds column -> TensorBoard tag
SCALARS = {
    "accuracy": "fl/accuracy", "loss": "fl/loss", "duration_s": "time/round_s", "t_end": "time/sim_time_s",
    "n_selected": "clients/selected", "n_completed": "clients/completed", "n_dropped": "clients/dropped",
    "bytes_down": "bytes/down", "bytes_up": "bytes/up",
}


def check_available() -> None:
    """Raise a one-line InputError when the TensorBoard writer cannot be imported."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise InputError("output.tensorboard: needs the tensorboard package: "
                         "pip install 'twin[tensorboard]' (or set output.tensorboard: false)") from None


def event_files(rounds: pd.DataFrame) -> dict[str, bytes]:
    """{file name: bytes} of the event file holding every round's scalars (empty rounds: an empty event file)."""
    from torch.utils.tensorboard import SummaryWriter

    with tempfile.TemporaryDirectory(prefix="twin-tb-") as tmp:
        writer = SummaryWriter(log_dir=tmp)
        try:
            for row in rounds.itertuples(index=False):
                step, t = int(row.round), float(row.t_end)
                for column, tag in SCALARS.items():
                    value = getattr(row, column, None)
                    if value is not None and not (isinstance(value, float) and math.isnan(value)):
                        writer.add_scalar(tag, float(value), global_step=step, walltime=t)
        finally:
            writer.close()
        return {p.name: p.read_bytes() for p in sorted(Path(tmp).iterdir()) if p.is_file()}
