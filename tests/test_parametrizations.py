"""featmech.nets.parametrizations: Chizat & Bach's output scaling, the width parametrizations
against their published infinite-width exponents (Tensor Programs IV/V, Dyer & Gur-Ari) fitted
over widths, and the 1-D CNN on MNIST-1D."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from featmech.errors import InputError  # noqa: E402
from featmech.nets.linearize import Linearized, linearization_gap  # noqa: E402
from featmech.nets.networks import MLP, make_optimizer, train, weight_layers  # noqa: E402
from featmech.nets.parametrizations import (PARAMETRIZATIONS, Conv1dNet, OutputScaled,  # noqa: E402
                                            parametrization)

DT = torch.float64

#: published exponents (Yang & Hu 2021, TP IV; NTK change: Dyer & Gur-Ari 2020): f0, per-layer
#: pre-activation change after one step (input, hidden, output), relative NTK change
THEORY = {
    "standard": (0.0, (-1.5, -0.5, 0.0), -1.0),
    "ntk": (0.0, (-0.5, -0.5, 0.0), -1.0),
    "mean_field": (-0.5, (0.0, 0.0, 0.0), 0.0),
    "mup": (-0.5, (0.0, 0.0, 0.0), 0.0),
}


def _data(n: int = 8, d: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=g, dtype=DT)
    return x, torch.sin(x.sum(1, keepdim=True))


# ------------------------------------------------------------------------------------------------
# OutputScaled


def test_output_scaled_is_zero_at_init_and_scales_gradients() -> None:
    x, _ = _data()
    g = MLP(4, (16,), 1, activation_name="tanh", dtype=DT, seed=0)
    f = OutputScaled(g, 7.0)
    assert torch.equal(f(x), torch.zeros(8, 1, dtype=DT))
    assert list(f.parameters()) == list(f.net.parameters())
    # gradient of f = α × gradient of g (autograd on the untouched original)
    (f(x).sum()).backward()
    g(x).sum().backward()
    for pf, pg in zip(f.net.parameters(), g.parameters()):
        np.testing.assert_allclose(pf.grad, 7.0 * pg.grad, rtol=1e-12, atol=1e-14)
    # after moving θ: α (g(θ) − g(θ0)), and α g(θ) uncentered
    with torch.no_grad():
        for p in f.net.parameters():
            p.add_(0.01)
        expect = 7.0 * (f.net(x) - g(x))
    np.testing.assert_allclose(f(x).detach(), expect, rtol=1e-12, atol=1e-14)
    h = OutputScaled(g, 3.0, center=False)
    np.testing.assert_allclose(h(x).detach(), 3.0 * g(x).detach(), rtol=1e-14)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(InputError, match="alpha"):
            OutputScaled(g, bad)


def test_output_scaled_becomes_lazy_as_alpha_grows() -> None:
    """At lr = lr0/α² the trained net approaches its trained linearization: gap ∝ 1/α (Chizat & Bach)."""
    x, y = _data()
    g = MLP(4, (16,), 1, activation_name="tanh", dtype=DT, seed=1)
    gaps, moves = [], []
    for alpha in (4.0, 16.0, 64.0):
        f = OutputScaled(g, alpha)
        lin = Linearized(f)
        for model in (f, lin):
            train(model, x, y, lr=0.05 / alpha ** 2, steps=20)
        with torch.no_grad():
            gaps.append(linearization_gap(f(x), lin(x), torch.zeros_like(y)))
            moves.append(float(sum((p - q).norm() ** 2 for p, q in zip(f.net.parameters(), g.parameters())) ** 0.5))
    assert gaps[0] > 1e-3  # it is not lazy at small α (≈ 2e-3 here)
    slope_gap = np.polyfit(np.log([4, 16, 64]), np.log(gaps), 1)[0]
    slope_move = np.polyfit(np.log([4, 16, 64]), np.log(moves), 1)[0]
    assert slope_gap == pytest.approx(-1.0, abs=0.1)
    assert slope_move == pytest.approx(-1.0, abs=0.1)


# ------------------------------------------------------------------------------------------------
# the parametrizations: tables and exact equivalences


def test_mup_is_table_3_of_tensor_programs_v() -> None:
    """Init variances 1/fan_in, 1/fan_in, 1/fan_in² and SGD rates fan_out, 1, 1/fan_in."""
    n, d, c = 128, 5, 3
    model, eta = parametrization("mup").build(n, d, c, seed=0, depth=3)
    assert eta == {"layers.0": n, "layers.1": 1.0, "layers.2": 1.0, "layers.3": 1.0 / n}
    assert model.forward_multipliers == (1.0, 1.0, 1.0, 1.0)
    variances = [float(layer.weight.detach().var()) for layer in model.layers]
    np.testing.assert_allclose(variances, [1 / d, 1 / n, 1 / n, 1 / n ** 2], rtol=0.25)
    assert [n for n, _ in weight_layers(model)] == list(eta)


def test_mean_field_and_mup_are_one_parametrization() -> None:
    """The abc-symmetry: same function and same SGD trajectory for one seed."""
    x, y = _data()
    a, eta_a = parametrization("mean_field").build(64, 4, 1, seed=3)
    b, eta_b = parametrization("mup").build(64, 4, 1, seed=3)
    train(a, x, y, lr=0.3, steps=10, multipliers=eta_a)
    train(b, x, y, lr=0.3, steps=10, multipliers=eta_b)
    with torch.no_grad():
        np.testing.assert_allclose(a(x), b(x), rtol=1e-10, atol=1e-12)
    # and NTK vs SP: same init (σ² = 1/fan_in effective), different rates: same output at init
    s, _ = parametrization("standard").build(64, 4, 1, seed=3)
    k, _ = parametrization("ntk").build(64, 4, 1, seed=3)
    with torch.no_grad():
        np.testing.assert_allclose(s(x), k(x), rtol=1e-12)


def test_unknown_names_and_bad_sizes() -> None:
    with pytest.raises(InputError, match="mup"):
        parametrization("muP")
    with pytest.raises(InputError, match="width"):
        parametrization("ntk").build(0, 3, 1)
    with pytest.raises(InputError, match="depth"):
        parametrization("ntk").build(8, 3, 1, depth=0)
    with pytest.raises(InputError, match="activation"):
        parametrization("ntk").build(8, 3, 1, activation_name="nope")
    for name, (f0, upd, ntk) in THEORY.items():
        p = PARAMETRIZATIONS[name]
        assert (p.output_exponent, p.update_exponents, p.ntk_change_exponent) == (f0, upd, ntk)
        assert p.limit == ("kernel" if ntk < 0 else "feature learning")


# ------------------------------------------------------------------------------------------------
# the width exponents, measured: plain autograd, fitted slopes


def _preactivations(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    zs = []
    for i, (layer, m) in enumerate(zip(model.layers, model.forward_multipliers)):
        x = m * layer(x)
        zs.append(x)
        if i < len(model.layers) - 1:
            x = model.act(x)
    return zs


def _ntk_trace(model: nn.Module, eta: dict[str, float], x: torch.Tensor) -> float:
    """tr K = Σ_i Σ_l η_l ‖∂f(x_i)/∂W_l‖² (scalar output), by per-example autograd."""
    weights = [layer.weight for layer in model.layers]
    total = 0.0
    for i in range(len(x)):
        grads = torch.autograd.grad(model(x[i:i + 1]).sum(), weights)
        total += sum(e * float((g ** 2).sum()) for e, g in zip(eta.values(), grads))
    return total


def _measure(name: str, widths: tuple[int, ...], seeds: int, steps: int = 10, lr: float = 0.5
             ) -> tuple[float, np.ndarray, float]:
    """Slopes in log width of: the output RMS at init; each layer's pre-activation RMS change after
    one step of the linear loss −mean(f·y) (a step that does not depend on f0); the relative change
    of the η-weighted NTK trace after ``steps`` of full-batch GD on the MSE."""
    x, y = _data()
    f0s, updates, changes = [], [], []
    for n in widths:
        f0, upd, ch = [], [], []
        for seed in range(seeds):
            for s in (seed, seed + 1000):  # the output at init: more draws (it is cheap)
                model, _ = parametrization(name).build(n, 4, 1, seed=s)
                with torch.no_grad():
                    f0.append(float(model(x).pow(2).mean()))
            model, eta = parametrization(name).build(n, 4, 1, seed=seed)
            with torch.no_grad():
                z0 = _preactivations(model, x)
            opt = make_optimizer(model, lr, eta)
            (-(model(x) * y).sum(-1).mean()).backward()
            opt.step()
            with torch.no_grad():
                upd.append([float((a - b).pow(2).mean().sqrt()) for a, b in zip(_preactivations(model, x), z0)])
            model, eta = parametrization(name).build(n, 4, 1, seed=seed)
            k0 = _ntk_trace(model, eta, x)
            train(model, x, y, lr=lr, steps=steps, multipliers=eta)
            ch.append(abs(_ntk_trace(model, eta, x) / k0 - 1.0))
        f0s.append(math.sqrt(np.mean(f0)))
        updates.append(np.mean(upd, axis=0))
        changes.append(np.mean(ch))
    logn = np.log(widths)
    return (float(np.polyfit(logn, np.log(f0s), 1)[0]), np.polyfit(logn, np.log(updates), 1)[0],
            float(np.polyfit(logn, np.log(changes), 1)[0]))


def _check(name: str, widths: tuple[int, ...], seeds: int, tol: tuple[float, float, float]) -> None:
    f0, upd, ntk = _measure(name, widths, seeds)
    exp_f0, exp_upd, exp_ntk = THEORY[name]
    assert f0 == pytest.approx(exp_f0, abs=tol[0]), (name, f0)
    np.testing.assert_allclose(upd, exp_upd, atol=tol[1], err_msg=name)
    if exp_ntk < 0:  # kernel: −1 asymptotically; widths ≤ 1024 give −0.75 … −1.1 (pre-asymptotic, noisy)
        assert -1.0 - tol[2] < ntk < -0.5, (name, ntk)
    else:  # feature learning: O(1) at every width
        assert abs(ntk) < tol[2], (name, ntk)


@pytest.mark.parametrize("name", ["standard", "ntk", "mup"])
def test_width_exponents_fast(name: str) -> None:
    _check(name, (32, 128, 512), seeds=2, tol=(0.25, 0.15, 0.35))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PARAMETRIZATIONS))
def test_width_exponents(name: str) -> None:
    _check(name, (64, 256, 1024), seeds=8, tol=(0.1, 0.1, 0.2))


# ------------------------------------------------------------------------------------------------
# the 1-D CNN


def test_conv1dnet_trains_on_mnist1d() -> None:
    from featmech.data import load_dataset

    ds = load_dataset("mnist1d", max_train=512)
    net = Conv1dNet(channels=8, seed=0)
    assert [n for n, _ in weight_layers(net)] == ["conv1", "conv2", "head"]
    assert net.conv1.weight.shape == (8, 1, 5)
    np.testing.assert_allclose(float(net.conv2.weight.std()), 1 / math.sqrt(8 * 5), rtol=0.15)
    res = train(net, ds.x_train, ds.y_train, lr=0.1, steps=25, loss="ce", batch_size=128, momentum=0.9)
    assert not res.diverged
    assert res.losses[-10:].mean() < 0.9 * res.losses[:5].mean()
    # flat inputs equal explicit (n, 1, 40) ones through the layers
    x = torch.as_tensor(ds.x_train[:3].copy(), dtype=torch.float32)
    with torch.no_grad():
        manual = net.head(net.act(net.conv2(net.act(net.conv1(x[:, None, :])))).mean(2))
        np.testing.assert_allclose(net(x), manual, rtol=1e-6)
    with pytest.raises(InputError, match="kernel"):
        Conv1dNet(kernel=4)
