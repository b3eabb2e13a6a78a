import math

import numpy as np
import pytest
import torch

from twin.fl.codecs import CODECS, Encoded, make_codec
from twin.scenario.loading import ScenarioError, validate


def vec(n=1000, seed=0):
    return torch.randn(n, generator=torch.Generator().manual_seed(seed))


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# --- exact byte counts ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind,params,n,expected",
    [
        ("none", {}, 7850, 4 * 7850),
        ("fp16", {}, 7850, 2 * 7850),
        ("int8", {}, 7850, 7850 + 4),
        ("int8", {"chunk_size": 1000}, 7850, 7850 + 4 * 8),
        ("qsgd", {"s": 1}, 7850, 4 + math.ceil(7850 * 2 / 8)),  # 2 bits/element
        ("qsgd", {"s": 15}, 7850, 4 + 7850 * 5 // 8 + 1),  # 5 bits/element: 39250 bits -> 4906.25 -> 4907 bytes
        ("qsgd", {"s": 255, "bucket_size": 512}, 7850, 4 * 16 + math.ceil(7850 * 9 / 8)),
        ("topk", {"fraction": 0.01}, 7850, 79 * (2 + 4)),  # k = ceil(78.5) = 79, uint16 indices
        ("topk", {"fraction": 0.1}, 199_210, 19_921 * (4 + 4)),  # n > 65536 -> uint32 indices
        ("topk", {"fraction": 1.0}, 10, 10 * 6),
    ],
)
def test_exact_byte_counts(kind, params, n, expected):
    codec = make_codec(kind, **params)
    enc = codec.encode(vec(n), rng=gen(), state=codec.new_state())
    assert isinstance(enc.payload, bytes)
    assert enc.nbytes == len(enc.payload) == codec.nbytes(n) == expected
    assert codec.decode(enc).shape == (n,)


def test_none_is_lossless_and_bytes_are_the_tensor():
    x = vec(33)
    codec = make_codec("none")
    enc = codec.encode(x)
    assert enc.payload == x.numpy().astype("<f4").tobytes()
    assert torch.equal(codec.decode(enc), x)


def test_fp16_relative_error():
    x = vec(5000) * 10
    y = make_codec("fp16").decode(make_codec("fp16").encode(x))
    normal = x.abs() > 6.2e-5  # float16 normal range
    assert float(((y - x).abs()[normal] / x.abs()[normal]).max()) <= 2**-11


# --- unbiased stochastic quantisers -----------------------------------------------------------------------------------


def mean_and_mse(codec, x, draws=2000):
    g = gen(1)
    total = torch.zeros_like(x, dtype=torch.float64)
    sq = torch.zeros_like(x, dtype=torch.float64)
    for _ in range(draws):
        y = codec.decode(codec.encode(x, rng=g)).double()
        total += y
        sq += (y - x.double()) ** 2
    return total / draws, sq / draws


@pytest.mark.parametrize("chunk_size", [None, 16])
def test_int8_unbiased_with_variance_bound(chunk_size):
    x = vec(64, seed=3)
    codec = make_codec("int8", chunk_size=chunk_size)
    c = 64 if chunk_size is None else chunk_size
    scale = x.view(-1, c).abs().amax(dim=1, keepdim=True).expand(-1, c).reshape(-1).double() / 127
    mean, mse = mean_and_mse(codec, x)
    # mean of 2000 draws: standard error <= scale/2/sqrt(2000); allow 5 sigma
    assert bool(((mean - x.double()).abs() <= 5 * scale / 2 / math.sqrt(2000) + 1e-7).all())
    assert bool((mse <= scale**2 / 4 * 1.15 + 1e-12).all())
    one = codec.decode(codec.encode(x, rng=gen()))
    assert float((one - x).abs().max()) <= float(scale.max()) * (1 + 1e-5)


@pytest.mark.parametrize("s,bucket", [(1, None), (4, None), (16, 32)])
def test_qsgd_unbiased_with_variance_bound(s, bucket):
    x = vec(64, seed=4)
    codec = make_codec("qsgd", s=s, bucket_size=bucket)
    mean, mse = mean_and_mse(codec, x)
    d = 64 if bucket is None else bucket
    norms = x.view(-1, d).double().norm(dim=1)
    per_elem_step = norms.repeat_interleave(d) / s  # each coordinate error < ||v|| / s, variance <= (||v||/s)^2 / 4
    assert bool(((mean - x.double()).abs() <= 5 * per_elem_step / 2 / math.sqrt(2000) + 1e-6).all())
    bound = min(d / s**2, math.sqrt(d) / s) * norms**2
    total_mse = mse.view(-1, d).sum(dim=1)
    assert bool((total_mse <= bound * 1.1).all())


def test_qsgd_levels_and_signs_decode_exactly():
    # with s = 4 and x = [3, -4, 0, 0] (norm 5): |x|/||x|| s = [2.4, 3.2, 0, 0] -> levels {2,3} and {3,4}
    x = torch.tensor([3.0, -4.0, 0.0, 0.0])
    codec = make_codec("qsgd", s=4)
    for seed in range(20):
        y = codec.decode(codec.encode(x, rng=gen(seed)))
        assert y[0].item() in (2.5, 3.75) and y[1].item() in (-3.75, -5.0) and y[2] == 0 and y[3] == 0


def test_stochastic_codecs_are_seeded():
    for kind in ("int8", "qsgd"):
        codec = make_codec(kind)
        assert codec.encode(vec(), rng=gen(9)).payload == codec.encode(vec(), rng=gen(9)).payload
        a = codec.encode(vec(), rng=np.random.default_rng(2)).payload
        assert a == codec.encode(vec(), rng=np.random.default_rng(2)).payload
        with pytest.raises(ValueError, match="rng"):
            codec.encode(vec())


def test_all_zero_update():
    for kind in CODECS:
        codec = make_codec(kind)
        y = codec.decode(codec.encode(torch.zeros(50), rng=gen(), state=codec.new_state()))
        assert torch.equal(y, torch.zeros(50))


# --- top-k and error feedback -----------------------------------------------------------------------------------------


def test_topk_keeps_exactly_the_k_largest():
    x = torch.tensor([0.1, -5.0, 0.3, 2.0, -0.2, 4.0, 0.0, -1.0, 0.05, 3.0])
    codec = make_codec("topk", fraction=0.3, error_feedback=False)
    y = codec.decode(codec.encode(x))
    assert torch.equal(y, torch.tensor([0, -5.0, 0, 0, 0, 4.0, 0, 0, 0, 3.0]))
    big = vec(2000)
    y = codec.decode(codec.encode(big))
    kept = y != 0
    assert int(kept.sum()) == 600
    assert float(big.abs()[kept].min()) >= float(big.abs()[~kept].max())


def test_error_feedback_eventually_transmits_everything():
    x = vec(100, seed=7)
    codec = make_codec("topk", fraction=0.1)  # error feedback on by default
    state = codec.new_state()
    received = torch.zeros(100)
    received += codec.decode(codec.encode(x, state=state))
    assert torch.allclose(received + state.residual, x)
    for _ in range(9):  # nothing new to send: the residual drains 10 values per round
        received += codec.decode(codec.encode(torch.zeros(100), state=state))
    assert torch.equal(received, x) and torch.equal(state.residual, torch.zeros(100))


def test_error_feedback_accumulates_small_values():
    codec = make_codec("topk", fraction=0.5)
    state = codec.new_state()
    x = torch.tensor([1.0, 0.4])
    y1 = codec.decode(codec.encode(x, state=state))
    assert torch.equal(y1, torch.tensor([1.0, 0.0])) and torch.equal(state.residual, torch.tensor([0.0, 0.4]))
    y2 = codec.decode(codec.encode(x, state=state))  # acc = [1.0, 0.8]
    assert torch.equal(y2, torch.tensor([1.0, 0.0]))
    y3 = codec.decode(codec.encode(x, state=state))  # acc = [1.0, 1.2] -> index 1 goes
    assert torch.allclose(y3, torch.tensor([0.0, 1.2]))
    assert torch.allclose(state.residual, torch.tensor([1.0, 0.0]))


def test_error_feedback_needs_state_and_works_for_other_codecs():
    with pytest.raises(ValueError, match="state"):
        make_codec("topk").encode(vec())
    codec = make_codec("int8", error_feedback=True)
    st = codec.new_state()
    y = codec.decode(codec.encode(vec(), rng=gen(), state=st))
    assert torch.allclose(y + st.residual, vec(), atol=1e-6)


# --- cost, registry, bad input ----------------------------------------------------------------------------------------


def test_cost_estimates_are_positive_and_grow_with_size():
    for kind in CODECS:
        codec = make_codec(kind)
        small, large = codec.cost(1000), codec.cost(100_000)
        assert large.encode_flops >= small.encode_flops >= 0 and large.decode_flops >= small.decode_flops >= 0
    assert make_codec("none").cost(10).encode_flops == 0
    assert make_codec("int8").cost(100).encode_flops == 700


@pytest.mark.parametrize(
    "kind,params,word",
    [
        ("zip", {}, "fl.upload_codec.kind"),
        ("topk", {"fraction": 0.0}, "fl.upload_codec.fraction"),
        ("topk", {"fraction": 1.5}, "fl.upload_codec.fraction"),
        ("topk", {"fraction": "a lot"}, "fl.upload_codec.fraction"),
        ("qsgd", {"s": 0}, "fl.upload_codec.s"),
        ("qsgd", {"s": 2.5}, "fl.upload_codec.s"),
        ("qsgd", {"s": 2**24 + 1}, "fl.upload_codec.s"),
        ("int8", {"chunk_size": -4}, "fl.upload_codec.chunk_size"),
        ("qsgd", {"levels": 4}, "fl.upload_codec.levels: unknown field"),
        ("fp16", {"error_feedback": "sometimes"}, "fl.upload_codec.error_feedback"),
    ],
)
def test_bad_parameters_are_caught_by_the_schema(kind, params, word):
    """Codec parameters are checked once, when the scenario is validated; the constructors trust them."""
    with pytest.raises(ScenarioError, match=word) as err:
        validate({"fl": {"upload_codec": {"kind": kind, **params}}})
    assert "\n" not in str(err.value)


def test_unknown_kind_in_the_registry():
    with pytest.raises(ValueError, match="codec kind must be one of"):
        make_codec("zip")


@pytest.mark.parametrize("kind", ["none", "fp16", "int8", "qsgd", "topk"])
def test_every_codec_takes_error_feedback_from_yaml(kind):
    """docs/fl-algorithms.md: error feedback is optional for any codec (default on for top-k only)."""
    cfg = validate({"fl": {"upload_codec": {"kind": kind, "error_feedback": kind != "topk"}}}).fl.upload_codec
    codec = make_codec(cfg.kind, **cfg.model_dump(exclude={"kind"}))
    assert codec.error_feedback is (kind != "topk")
    x, state = vec(300), codec.new_state()
    codec.encode(x, rng=gen(), state=state)
    assert (state.residual is not None) is codec.error_feedback


def test_bad_updates():
    codec = make_codec("int8")
    with pytest.raises(ValueError, match="flat"):
        codec.encode(torch.zeros(3, 3), rng=gen())
    with pytest.raises(ValueError, match="NaN"):
        codec.encode(torch.tensor([1.0, float("nan")]), rng=gen())
    with pytest.raises(ValueError, match="float16"):
        make_codec("fp16").encode(torch.tensor([1e6]))
    with pytest.raises(ValueError, match="cannot decode"):
        codec.decode(make_codec("fp16").encode(torch.ones(3)))
    with pytest.raises(ValueError, match="bytes"):
        codec.decode(Encoded(kind="int8", numel=5, payload=b"\x00" * 3))


@pytest.mark.parametrize(
    "kind,params",
    [("int8", {"chunk_size": 8}), ("qsgd", {"s": 65535, "bucket_size": 8}), ("qsgd", {"s": 3, "bucket_size": 5})],
)
def test_ragged_chunks_decode_within_one_step(kind, params):
    x = vec(37, seed=11)  # 37 is not a multiple of the chunk / bucket size
    codec = make_codec(kind, **params)
    y = codec.decode(codec.encode(x, rng=gen(3)))
    size = params.get("chunk_size") or params.get("bucket_size")
    padded = torch.nn.functional.pad(x, (0, -len(x) % size)).view(-1, size)
    if kind == "int8":
        step = padded.abs().amax(dim=1) / 127
    else:
        step = padded.norm(dim=1) / params["s"]
    step = step.repeat_interleave(size)[:37]
    assert bool(((y - x).abs() <= step * (1 + 1e-5) + 1e-7).all())


def test_empty_tensor():
    for kind in CODECS:
        codec = make_codec(kind)
        enc = codec.encode(torch.zeros(0), rng=gen(), state=codec.new_state())
        assert enc.nbytes == codec.nbytes(0) and codec.decode(enc).shape == (0,)
