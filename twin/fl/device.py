"""Where cohort training and evaluation run: ``fl.device: auto | cpu | cuda``.

:func:`resolve_device` turns the setting into a ``torch.device`` and a note for the log and the summary: ``auto`` takes
the first CUDA device when torch sees one and falls back to the CPU (saying so) otherwise; ``cuda`` without a CUDA
device is an input error. On CUDA it also fixes the numerics so that results are reproducible and stay within float32
rounding of the CPU's (:func:`deterministic_cuda`):

- no TF32: matrix products and convolutions in full float32 (cuDNN allows TF32 convolutions by default, which alone
  would move a CNN's parameters by ~1e-3);
- cuDNN in deterministic mode, without benchmarking (the same algorithm every run);
- the batch plan (which rows every client uses at every step) is drawn with numpy on the host from the round's
  generator, as on the CPU, so both devices train on exactly the same batches in the same order; the model's
  initial weights are drawn on the CPU and copied;
- the only scatter-adds with repeated indices (a padded batch slot pointing at a client's first row) add exact zeros,
  so CUDA's atomic adds give the same sum in any order.

:func:`chunk_budget_bytes` is the device memory one chunk of the cohort may use (see :mod:`twin.fl.training`).
"""

from __future__ import annotations

import dataclasses

import torch

from twin.fl.errors import FLConfigError

DEVICES = ("auto", "cpu", "cuda")
CUDA_CHUNK_FRACTION = 0.5
"""Share of the free device memory (at the start of a round's training) one chunk of the cohort may use."""
CPU_CHUNK_BYTES = 1 * 2**30
"""Host memory one chunk of the cohort's results may use on the CPU (trained parameters of the chunk's clients)."""


@dataclasses.dataclass(frozen=True)
class DeviceChoice:
    requested: str  # auto | cpu | cuda
    device: torch.device
    note: str  # one line: what was chosen and why

    @property
    def kind(self) -> str:
        return self.device.type

    def describe(self) -> dict[str, str]:
        name = torch.cuda.get_device_name(self.device) if self.kind == "cuda" else "cpu"
        return {"requested": self.requested, "used": self.kind, "name": name, "note": self.note}


def cuda_available() -> bool:
    return torch.cuda.is_available()


def resolve_device(requested: str) -> DeviceChoice:
    """The device for ``fl.device`` (an FLConfigError naming ``device`` for an unknown value or a missing GPU)."""
    if requested not in DEVICES:
        raise FLConfigError(f"device: unknown device {requested!r}; choose one of {', '.join(DEVICES)}")
    if requested == "cpu":
        return DeviceChoice("cpu", torch.device("cpu"), "cpu (fl.device: cpu)")
    if cuda_available():
        device = torch.device("cuda", torch.cuda.current_device())
        deterministic_cuda()
        return DeviceChoice(requested, device, f"cuda ({torch.cuda.get_device_name(device)}, fl.device: {requested})")
    why = "torch was built without CUDA" if torch.version.cuda is None else "torch finds no CUDA device"
    if requested == "cuda":
        raise FLConfigError(f"device: 'cuda' asked for but {why} (torch {torch.__version__}); use fl.device: auto "
                            "(falls back to the CPU) or cpu")
    return DeviceChoice("auto", torch.device("cpu"), f"cpu (fl.device: auto found no CUDA: {why})")


def deterministic_cuda() -> None:
    """Full-float32, deterministic CUDA numerics for this process (see the module docstring)."""
    # The flags that every torch since 1.7 has. Not the newer per-backend ``fp32_precision`` (torch 2.9+): set for
    # cuDNN convolutions alone it makes torch's own readers of ``cudnn.allow_tf32`` (``cudnn.flags()``) raise about
    # a mix of the two APIs; with these the new getters read "ieee" / "none" (= follow allow_tf32) consistently.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def chunk_budget_bytes(device: torch.device) -> int:
    """Memory one chunk of the cohort may use on ``device``: half the free CUDA memory, or ``CPU_CHUNK_BYTES``."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * CUDA_CHUNK_FRACTION)
    return CPU_CHUNK_BYTES
