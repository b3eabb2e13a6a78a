"""Adding a codec touches two files: its module in twin/fl/codecs/ and its schema class in twin/scenario/codecs/.

The test copies the package, adds exactly those two files (the worked example of docs/architecture.md, "Adding a
codec"), and runs a scenario that uploads with the new codec through the command line: the registry finds the
implementation, the ``fl.upload_codec`` union accepts its kind and fields, and its payload size is what the run
records. Nothing else in the copy is edited.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]

IMPLEMENTATION = '''
"""Sign compression: one bit per value and one float32 mean magnitude (signSGD with a scale; 4 + ceil(n / 8) bytes)."""

from __future__ import annotations

import numpy as np
import torch

from twin.fl.codecs.base import Codec, CodecCost, f32_bytes, f32_from


class SignCodec(Codec):
    kind = "sign"

    def __init__(self, *, scale: bool = True, error_feedback: bool = True) -> None:
        super().__init__(error_feedback=error_feedback)
        self.scale = scale

    def _encode(self, x, rng):
        magnitude = x.abs().mean() if self.scale else torch.tensor(1.0)
        return f32_bytes(magnitude.reshape(1)) + np.packbits(x.numpy() >= 0).tobytes()

    def _decode(self, payload, numel):
        magnitude = f32_from(payload, 0, 1)
        bits = np.unpackbits(np.frombuffer(payload, dtype=np.uint8, offset=4), count=numel)
        return torch.from_numpy(bits.astype(np.float32) * 2 - 1) * magnitude

    def nbytes(self, numel):
        return 4 + (int(numel) + 7) // 8

    def _cost(self, numel):
        return CodecCost(2.0 * numel, 2.0 * numel)
'''

SCHEMA = '''
"""Schema of the sign codec."""

from __future__ import annotations

from typing import Literal

from twin.scenario.codecs import CodecSpec


class SignCodec(CodecSpec):
    """One bit per value and one mean magnitude (``scale``); error feedback on by default."""

    kind: Literal["sign"]
    scale: bool = True
    error_feedback: bool = True
'''

SCENARIO = '''
name: toy_codec
topology: {kind: star, n_clients: 4}
fl:
  rounds: 2
  partition: {kind: iid}
  schedule: {kind: constant, start: 4}
  local: {epochs: 1}
  upload_codec: {kind: sign, scale: true}
output: {sample_period_s: 0}
'''


def test_a_codec_is_one_module_and_one_schema_class(tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "twin", tree / "twin", ignore=shutil.ignore_patterns("__pycache__"))
    (tree / "twin" / "fl" / "codecs" / "sign.py").write_text(textwrap.dedent(IMPLEMENTATION))
    (tree / "twin" / "scenario" / "codecs" / "sign.py").write_text(textwrap.dedent(SCHEMA))
    (tmp_path / "toy.yaml").write_text(SCENARIO)

    def twin(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "twin.run", *args], cwd=tree, capture_output=True, text=True,
                              timeout=300)

    bad = twin(str(tmp_path / "toy.yaml"), "--validate", "--set", "fl.upload_codec.levels=3")
    assert bad.returncode == 2 and "fl.upload_codec.levels: unknown field" in bad.stderr

    done = twin(str(tmp_path / "toy.yaml"), "--quiet", "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    assert "twin/fl/codecs/sign.py" not in done.stderr  # sanity: no traceback
    rounds = pd.read_parquet(tmp_path / "run" / "rounds.parquet")
    resolved = (tmp_path / "run" / "scenario.resolved.yaml").read_text()
    assert "kind: sign" in resolved and "scale: true" in resolved
    numel = 64 * 64 + 64 + 64 * 10 + 10  # digits_mlp: 8x8 -> 64 -> 10
    assert (rounds["bytes_up"] == rounds["n_completed"] * (4 + (numel + 7) // 8)).all()
    assert (rounds["accuracy"].notna()).all()
