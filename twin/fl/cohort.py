"""Vectorised cohort training: every client of a group trains at once on stacked parameters.

Clients arrive sorted by their number of optimiser steps, largest first, so at step ``s`` the clients that still have a
batch are a prefix ``[:a]`` of the stack: the engines compute and update only that prefix (a view, no copy), which makes
the skipped optimiser steps of finished clients exact and costs nothing. Partial batches (a client's last batch of an
epoch) are padded to the batch size and their padding slots get loss weight 0, so each client's gradient is exactly the
mean over its real samples.

Two engines, one contract: each writes its clients' trained parameters into given rows of the cohort's stacked tensors
and returns their loss sums.

- ``vmap``: ``torch.func.vmap(grad_and_value(...))`` over ``functional_call`` of any buffer-free model (CNN included).
- ``bmm``: for chains of Linear / ReLU / Flatten (softmax regression, the MLPs) a hand-derived batched forward and
  backward with ``torch.bmm`` / in-place ``baddbmm_``: the same maths with no per-client gradient tensors allocated,
  preallocated buffers, and SGD fused into the weight-gradient product. The optimiser steps are one small class per
  optimiser (:class:`SgdSteps`, :class:`MomentumSteps`, :class:`AdamSteps`) holding its state and its fused kernels.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad_and_value, vmap

from twin.fl.batching import BatchPlan, adam_update_, sample_weights, sgd_update_


@dataclasses.dataclass(frozen=True)
class OptimiserSpec:
    kind: str  # "sgd" | "adam"
    lr: float
    momentum: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8


def _active_counts(plan: BatchPlan) -> list[int]:
    steps = plan.steps
    if np.any(np.diff(steps) > 0):
        raise AssertionError("cohort engines need clients sorted by steps, largest first")
    return [int(np.count_nonzero(steps > s)) for s in range(plan.max_steps)]


def _stack(global_params: Mapping[str, torch.Tensor], k: int, device: torch.device) -> dict[str, torch.Tensor]:
    return {n: p.detach().to(device=device, dtype=torch.float32).unsqueeze(0).repeat(k, *([1] * p.dim()))
            for n, p in global_params.items()}


def _on(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """A host array as a tensor on ``device`` (no copy on the CPU)."""
    return torch.from_numpy(np.ascontiguousarray(array)).to(device)


# ------------------------------------------------------------------------------------------------------------- vmap


def train_group_vmap(model: nn.Module, global_params: Mapping[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                     plan: BatchPlan, opt: OptimiserSpec, out: dict[str, torch.Tensor],
                     out_rows: np.ndarray) -> np.ndarray:
    """Train a group with vmap over stacked parameters. Client ``j`` of the plan's parameters are written to row
    ``out_rows[j]`` of the cohort's stacked tensors ``out``; returns the per-client loss sums. Runs on the device of
    ``x`` (where ``out`` lives too)."""
    k, batch = plan.positions.shape[0], plan.positions.shape[2]
    dev = x.device
    params = _stack(global_params, k, dev)
    state1 = {n: torch.zeros_like(p) for n, p in params.items()} if opt.kind == "adam" or opt.momentum else None
    state2 = {n: torch.zeros_like(p) for n, p in params.items()} if opt.kind == "adam" else None
    rows = _on(plan.rows, dev)
    weights = _on(sample_weights(plan.counts, batch), dev)
    counts = _on(plan.counts, dev).to(torch.float64)
    loss_sum = torch.zeros(k, dtype=torch.float64, device=dev)

    def loss_fn(p: dict[str, torch.Tensor], xb: torch.Tensor, yb: torch.Tensor, wb: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, p, (xb,))
        return (F.cross_entropy(out, yb, reduction="none") * wb).sum()

    step_fn = vmap(grad_and_value(loss_fn))
    sample_shape = x.shape[1:]
    for s, a in enumerate(_active_counts(plan)):
        idx = rows[:a, s].reshape(-1)
        xb = x.index_select(0, idx).view(a, batch, *sample_shape)
        yb = y.index_select(0, idx).view(a, batch)
        view = {n: p[:a] for n, p in params.items()}
        grads, batch_loss = step_fn(view, xb, yb, weights[:a, s])
        loss_sum[:a] += batch_loss.detach().to(torch.float64) * counts[:a, s]
        with torch.no_grad():
            for n, p in view.items():
                if opt.kind == "adam":
                    adam_update_(p, grads[n], state1[n][:a], state2[n][:a], step=s + 1, lr=opt.lr, beta1=opt.beta1,
                                 beta2=opt.beta2, eps=opt.eps)
                else:
                    sgd_update_(p, grads[n], None if state1 is None else state1[n][:a], lr=opt.lr,
                                momentum=opt.momentum)
    rows_t = _on(np.asarray(out_rows, dtype=np.int64), dev)
    for n, p in params.items():
        out[n].index_copy_(0, rows_t, p)
    return loss_sum.cpu().numpy()


# -------------------------------------------------------------------------------------------------------------- bmm


@dataclasses.dataclass(frozen=True)
class LinearLayer:
    weight: str  # parameter names in the model
    bias: str
    relu: bool  # followed by a ReLU


def linear_chain(model: nn.Module) -> list[LinearLayer] | None:
    """The Linear layers of a Flatten / Linear / ReLU chain (an nn.Sequential), or None if the model is anything else."""
    if not isinstance(model, nn.Sequential) or any(True for _ in model.buffers()):
        return None
    layers: list[LinearLayer] = []
    for name, child in model.named_children():
        if isinstance(child, nn.Flatten):
            if layers:
                return None
        elif isinstance(child, nn.Linear):
            if child.bias is None or (layers and not layers[-1].relu):
                return None
            layers.append(LinearLayer(weight=f"{name}.weight", bias=f"{name}.bias", relu=False))
        elif isinstance(child, nn.ReLU):
            if not layers or layers[-1].relu:
                return None
            layers[-1] = dataclasses.replace(layers[-1], relu=True)
        else:
            return None
    if not layers or layers[-1].relu:
        return None
    return layers


def dual_first_layer_pays(plan: BatchPlan, n_in: int, n_out: int) -> bool:
    """Whether the dual form of the first layer costs fewer FLOPs than the direct form for this group.

    Direct: forward and weight gradient per batch slot, 4 * slots * n_in * n_out. Dual: per client the products
    X W0 (2 n n_in n_out), the Gram matrix (2 n^2 n_in) and the final X^T C (2 n n_in n_out), plus per batch slot a row
    of the Gram matrix times C (2 n n_out), with n the group's largest client.
    """
    k, _, batch = plan.positions.shape
    n_max = plan.members.shape[1]
    slots = float(plan.steps.sum()) * batch
    direct = 4.0 * slots * n_in * n_out
    dual = k * (4.0 * n_max * n_in * n_out + 2.0 * n_max * n_max * n_in) + 2.0 * slots * n_max * n_out
    return dual < direct


class SgdSteps:
    """Plain SGD on a group's stacked layers: ``W -= lr h^T g`` fused into one ``baddbmm_`` (no gradient tensor),
    ``b -= lr sum(g)``. Every update touches the active prefix ``[:a]`` only. The first layer may run in its dual form
    (``W = W0 - X^T C``), where the step accumulates the learning-rate-scaled output gradients into ``C``."""

    supports_dual = True

    def __init__(self, w: list[torch.Tensor | None], b: list[torch.Tensor], opt: OptimiserSpec,
                 coef: torch.Tensor | None) -> None:
        self.w, self.b, self.opt, self.coef = w, b, opt, coef

    def layer(self, i: int, a: int, h_in: torch.Tensor, g: torch.Tensor, step: int) -> None:
        """Update layer ``i`` of the first ``a`` clients from its input ``h_in`` and output gradient ``g`` (B, out)."""
        lr = self.opt.lr
        g_b = g.sum(dim=1)
        self.w[i][:a].baddbmm_(h_in.transpose(1, 2), g, alpha=-lr)
        self.b[i][:a].add_(g_b, alpha=-lr)

    def dual(self, a: int, pos_out: torch.Tensor, g: torch.Tensor) -> None:
        """Update the dual first layer: ``C[pos] += lr g`` (``g`` is consumed), ``b -= lr sum(g)``."""
        lr = self.opt.lr
        g_b = g.sum(dim=1)
        self.coef[:a].scatter_add_(1, pos_out, g.mul_(lr))
        self.b[0][:a].add_(g_b, alpha=-lr)


class MomentumSteps(SgdSteps):
    """SGD with momentum (torch.optim.SGD): ``M = mu M + h^T g`` fused into one ``baddbmm_``, ``W -= lr M``; in the dual
    form the momentum buffer lives on the coefficients (``B = mu B + g`` scattered, ``C += lr B``)."""

    def __init__(self, w: list[torch.Tensor | None], b: list[torch.Tensor], opt: OptimiserSpec,
                 coef: torch.Tensor | None) -> None:
        super().__init__(w, b, opt, coef)
        self.m_w = [None if t is None else torch.zeros_like(t) for t in w]
        self.m_b = [torch.zeros_like(t) for t in b]
        self.coef_buf = None if coef is None else torch.zeros_like(coef)

    def layer(self, i: int, a: int, h_in: torch.Tensor, g: torch.Tensor, step: int) -> None:
        opt = self.opt
        g_b = g.sum(dim=1)
        self.m_w[i][:a].baddbmm_(h_in.transpose(1, 2), g, beta=opt.momentum)
        self.w[i][:a].add_(self.m_w[i][:a], alpha=-opt.lr)
        sgd_update_(self.b[i][:a], g_b, self.m_b[i][:a], lr=opt.lr, momentum=opt.momentum)

    def dual(self, a: int, pos_out: torch.Tensor, g: torch.Tensor) -> None:
        opt = self.opt
        g_b = g.sum(dim=1)
        self.coef_buf[:a].mul_(opt.momentum).scatter_add_(1, pos_out, g)
        self.coef[:a].add_(self.coef_buf[:a], alpha=opt.lr)
        sgd_update_(self.b[0][:a], g_b, self.m_b[0][:a], lr=opt.lr, momentum=opt.momentum)


class AdamSteps:
    """Adam (torch.optim.Adam): the weight gradient ``h^T g`` into a preallocated buffer, then the in-place Adam
    update with a preallocated scratch. Adam is not linear in the gradients, so it has no dual form."""

    supports_dual = False

    def __init__(self, w: list[torch.Tensor | None], b: list[torch.Tensor], opt: OptimiserSpec,
                 coef: torch.Tensor | None) -> None:
        self.w, self.b, self.opt = w, b, opt
        self.m_w, self.v_w = [torch.zeros_like(t) for t in w], [torch.zeros_like(t) for t in w]
        self.m_b, self.v_b = [torch.zeros_like(t) for t in b], [torch.zeros_like(t) for t in b]
        self.g_w, self.tmp_w = [torch.empty_like(t) for t in w], [torch.empty_like(t) for t in w]

    def layer(self, i: int, a: int, h_in: torch.Tensor, g: torch.Tensor, step: int) -> None:
        opt = self.opt
        g_b = g.sum(dim=1)
        gw = torch.bmm(h_in.transpose(1, 2), g, out=self.g_w[i][:a])
        hyper = dict(step=step, lr=opt.lr, beta1=opt.beta1, beta2=opt.beta2, eps=opt.eps)
        adam_update_(self.w[i][:a], gw, self.m_w[i][:a], self.v_w[i][:a], scratch=self.tmp_w[i][:a], **hyper)
        adam_update_(self.b[i][:a], g_b, self.m_b[i][:a], self.v_b[i][:a], **hyper)


def bmm_steps_class(opt: OptimiserSpec) -> type[SgdSteps] | type[AdamSteps]:
    """The optimiser steps of the bmm engine for ``opt``."""
    if opt.kind == "adam":
        return AdamSteps
    return MomentumSteps if opt.momentum != 0.0 else SgdSteps


def train_group_bmm(layers: list[LinearLayer], global_params: Mapping[str, torch.Tensor], x2d: torch.Tensor,
                    y: torch.Tensor, plan: BatchPlan, opt: OptimiserSpec, out: dict[str, torch.Tensor],
                    out_rows: np.ndarray, *, dual: bool | None = None) -> np.ndarray:
    """Train a group of clients of a Linear/ReLU chain with batched matrix products (see the module docstring).

    ``x2d`` is the train set flattened to (n_rows, n_features). Client ``j`` of the plan's parameters are written to
    row ``out_rows[j]`` of the cohort's stacked tensors ``out``; returns the per-client loss sums.

    With SGD (with or without momentum) the first layer can run in its *dual* form: its weights stay
    W = W0 - X^T C, with X the client's rows and C (n x out) the accumulated, learning-rate-scaled output gradients
    of those rows; the forward pass is X_batch W = (X W0)[batch] - Gram[batch] C. It is the same SGD, reassociated,
    and cheaper whenever a client holds fewer rows than the layer has inputs times epochs (the 784-input layers here);
    ``dual=None`` chooses by :func:`dual_first_layer_pays`. Adam is not linear in the gradients, so it never uses it.
    """
    k, _, batch = plan.positions.shape
    n_feat, dev = x2d.shape[1], x2d.device
    n_layers = len(layers)
    out0 = global_params[layers[0].bias].shape[0]
    steps_class = bmm_steps_class(opt)
    use_dual = steps_class.supports_dual and (dual_first_layer_pays(plan, n_feat, out0) if dual is None else dual)
    first = 1 if use_dual else 0
    # weights are kept transposed, (K, in, out), so the forward pass is h @ W and the weight gradient h^T @ g
    w: list[torch.Tensor | None] = [None] * n_layers
    for i in range(first, n_layers):
        w[i] = global_params[layers[i].weight].detach().to(dev, torch.float32).t().unsqueeze(0).repeat(k, 1, 1)
    b = [global_params[ly.bias].detach().to(dev, torch.float32).unsqueeze(0).repeat(k, 1) for ly in layers]
    rows = _on(plan.rows, dev)
    positions = _on(plan.positions, dev)
    labels = y[rows].unsqueeze(3)  # (K, S, B, 1)
    weights = _on(sample_weights(plan.counts, batch), dev).unsqueeze(3)  # (K, S, B, 1)
    nll = torch.zeros(plan.max_steps, k, batch, 1, device=dev)  # log-likelihood of every sample slot (0: inactive)
    minus_one = torch.full((k, batch, 1), -1.0, device=dev)
    coef = None
    if use_dual:
        n_max = plan.members.shape[1]
        xc = x2d.index_select(0, _on(plan.members, dev).reshape(-1)).view(k, n_max, n_feat)
        w0 = global_params[layers[0].weight].detach().to(dev, torch.float32).t()
        xw0 = torch.matmul(xc.view(k * n_max, n_feat), w0).view(k, n_max, out0)
        gram = torch.bmm(xc, xc.transpose(1, 2))
        coef = torch.zeros(k, n_max, out0, device=dev)
    else:
        x_buf = torch.empty(k * batch, n_feat, dtype=torch.float32, device=dev)
    steps = steps_class(w, b, opt, coef)

    for s, a in enumerate(_active_counts(plan)):
        yb = labels[:a, s]
        if use_dual:
            pos = positions[:a, s]
            pos_out = pos.unsqueeze(2).expand(a, batch, out0)
            z = xw0[:a].gather(1, pos_out).add_(b[0][:a].unsqueeze(1))
            z.baddbmm_(gram[:a].gather(1, pos.unsqueeze(2).expand(a, batch, n_max)), coef[:a], alpha=-1.0)
            hs: list[torch.Tensor | None] = [None, z.relu_() if layers[0].relu else z]
        else:
            idx = rows[:a, s].reshape(-1)
            hs = [torch.index_select(x2d, 0, idx, out=x_buf[: a * batch]).view(a, batch, n_feat)]
        for i in range(len(hs) - 1, n_layers):
            z = torch.baddbmm(b[i][:a].unsqueeze(1), hs[-1], w[i][:a])
            hs.append(z.relu_() if layers[i].relu else z)
        logp = torch.log_softmax(hs.pop(), dim=2)
        torch.gather(logp, 2, yb, out=nll[s, :a])  # the loss is summed once, after the loop
        g = logp.exp_()  # dL/dz of the weighted mean cross-entropy: (softmax - onehot) * weight
        g.scatter_add_(2, yb, minus_one[:a])
        g.mul_(weights[:a, s])
        for i in range(n_layers - 1, -1, -1):
            g_next = None
            if i > 0:  # gradient for the layer below, with this layer's weights before their update
                g_next = torch.ops.aten.threshold_backward(torch.bmm(g, w[i][:a].transpose(1, 2)), hs[i], 0.0)
            if i == 0 and use_dual:
                steps.dual(a, pos_out, g)
            else:
                steps.layer(i, a, hs[i], g, s + 1)
            g = g_next
    rows_t = _on(np.asarray(out_rows, dtype=np.int64), dev)
    for i, ly in enumerate(layers):
        if i == 0 and use_dual:  # W^T = W0^T - C^T X, computed in the model's (out, in) layout straight into the rows
            w0_t, dest = w0.t(), out[ly.weight]
            for j, row in enumerate(out_rows):
                torch.addmm(w0_t, coef[j].t(), xc[j], alpha=-1.0, out=dest[int(row)])
        else:
            out[ly.weight].index_copy_(0, rows_t, w[i].transpose(1, 2))
        out[ly.bias].index_copy_(0, rows_t, b[i])
    step_loss = (nll.squeeze(3).permute(1, 0, 2) * weights.squeeze(3)).sum(dim=2)  # (K, S) batch mean losses
    return -(step_loss.to(torch.float64).cpu().numpy() * plan.counts).sum(axis=1)


def group_bytes(global_params: Mapping[str, torch.Tensor], opt: OptimiserSpec, engine: str, *, mean_rows: float,
                n_features: int) -> int:
    """Approximate working set one client adds to a group: parameters, optimiser state, gradients, its data rows."""
    n = sum(p.numel() for p in global_params.values())
    copies = 1 + (4 if opt.kind == "adam" else 1 if opt.momentum else 0)
    if engine == "vmap":
        copies += 1  # per-client gradients
    return int(4 * (n * copies + mean_rows * n_features))


CHUNK_BUDGET_BYTES = {"bmm": 16 * 2**20, "vmap": 64 * 2**20}
"""Working-set budget of one group. bmm is fastest when a group's weights stay in the CPU caches (2NN: 10-20
clients a group measured best on the 2-core dev machine); vmap allocates per-client gradients every step and does
best with larger groups."""


def auto_chunk_size(global_params: Mapping[str, torch.Tensor], opt: OptimiserSpec, engine: str, *,
                    mean_rows: float, n_features: int) -> int:
    """Clients per group so that a group's working set stays within the engine's budget (at least 8)."""
    per_client = group_bytes(global_params, opt, engine, mean_rows=mean_rows, n_features=n_features)
    return max(8, math.floor(CHUNK_BUDGET_BYTES[engine] / per_client))


GPU_GROUP_BYTES = 4 * 2**30
"""Working-set budget of one group on a GPU: large groups keep its cores busy; a constant (not the free memory) so
that the grouping, and with it the float rounding, is the same on every run of a scenario."""


def activation_numel(model: nn.Module, sample_shape: tuple[int, ...]) -> int:
    """Floats of every layer's output for one sample (what the forward pass keeps for the backward pass)."""
    h = torch.zeros(1, *sample_shape)
    total = 0
    with torch.no_grad():
        for layer in model.children() if isinstance(model, nn.Sequential) else (model,):
            h = layer(h)
            total += h.numel()
    return total


def device_group_bytes(model: nn.Module, global_params: Mapping[str, torch.Tensor], opt: OptimiserSpec, engine: str,
                       *, batch_size: int, max_rows: int, sample_shape: tuple[int, ...]) -> int:
    """A conservative working set per client on a GPU: :func:`group_bytes` with the largest client's rows, plus the
    activations and their gradients of a batch, plus (bmm) the dual first layer's Gram matrix and products."""
    n_feat = int(np.prod(sample_shape))
    base = group_bytes(global_params, opt, engine, mean_rows=max_rows, n_features=n_feat)
    acts = 4 * 3 * batch_size * activation_numel(model, sample_shape)
    dual = 4 * (max_rows * max_rows + 3 * max_rows * next(iter(global_params.values())).shape[0]) \
        if engine == "bmm" else 0
    return int(base + acts + dual)
