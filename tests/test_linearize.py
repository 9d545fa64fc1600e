"""featmech.nets.linearize against independent references: models linear in their parameters
(where the Taylor model is exact), the Taylor remainder O(|δ|²), the autograd Jacobian, and the
closed-form discrete-time kernel-regression dynamics of GD on a linear model."""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.func import functional_call  # noqa: E402

from featmech.errors import InputError  # noqa: E402
from featmech.nets.linearize import Linearized, linearization_gap  # noqa: E402
from featmech.nets.networks import MLP, make_optimizer, param_groups  # noqa: E402

DT = torch.float64


def _data(n: int = 6, d: int = 3, c: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=DT), torch.randn(n, c, generator=g, dtype=DT)


def _gd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, lr: float, steps: int, mult=None) -> None:
    opt = make_optimizer(model, lr, mult)
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * ((model(x) - y) ** 2).sum(-1).mean()).backward()
        opt.step()


# ------------------------------------------------------------------------------------------------
# (1) models linear in their parameters: the Taylor model is the model


def test_linear_model_is_its_own_linearization_during_training() -> None:
    x, y = _data()
    model = nn.Linear(3, 2, dtype=DT)
    ref = copy.deepcopy(model)
    lin = Linearized(model)
    np.testing.assert_allclose(lin(x).detach(), model(x).detach(), rtol=0, atol=1e-14)
    _gd(ref, x, y, 0.3, 15)
    opt = make_optimizer(lin.net, 0.3)
    for _ in range(15):
        opt.zero_grad()
        (0.5 * ((lin(x) - y) ** 2).sum(-1).mean()).backward()
        opt.step()
    np.testing.assert_allclose(lin(x).detach(), ref(x).detach(), rtol=0, atol=1e-12)
    for (n1, p1), (n2, p2) in zip(lin.net.named_parameters(), ref.named_parameters()):
        assert n1 == n2
        np.testing.assert_allclose(p1.detach(), p2.detach(), rtol=0, atol=1e-12)
    # the user's model is untouched
    np.testing.assert_array_equal(model.weight.detach(), Linearized(model).initial_parameters()["weight"])


def test_random_features_model_frozen_first_layer() -> None:
    """f = κ·V σ(W x) with W frozen: linear in V, so exact; W never moves in the linearization."""
    x, y = _data(n=8)
    model = MLP(3, (16,), 2, activation_name="tanh", kappa=0.7, dtype=DT, seed=3)
    for p in model.layers[0].parameters():
        p.requires_grad_(False)
    ref = copy.deepcopy(model)
    lin = Linearized(model)
    assert [n for n, _ in lin.named_parameters()] == ["net." + n for n, _ in model.named_parameters()]
    w0 = model.layers[0].weight.detach().clone()
    _gd(ref, x, y, 0.5, 20)
    opt = make_optimizer(lin.net, 0.5)
    for _ in range(20):
        opt.zero_grad()
        (0.5 * ((lin(x) - y) ** 2).sum(-1).mean()).backward()
        opt.step()
    assert lin.net.layers[0].weight.grad is None
    np.testing.assert_array_equal(lin.net.layers[0].weight.detach(), w0)
    np.testing.assert_allclose(lin(x).detach(), ref(x).detach(), rtol=0, atol=1e-12)
    assert not torch.allclose(ref(x), model(x))  # it did train


# ------------------------------------------------------------------------------------------------
# (2) a nonlinear MLP: second-order remainder and the Jacobian


def _set(module: nn.Module, params: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for n, p in module.named_parameters():
            p.copy_(params[n])


def test_taylor_remainder_is_second_order() -> None:
    x, _ = _data(n=5)
    model = MLP(3, (12, 12), 2, activation_name="tanh", dtype=DT, seed=1)
    lin = Linearized(model)
    theta0 = {n: p.detach().clone() for n, p in model.named_parameters()}
    g = torch.Generator().manual_seed(7)
    direction = {n: torch.randn(p.shape, generator=g, dtype=DT) for n, p in theta0.items()}
    moved = copy.deepcopy(model)
    errors = []
    for eps in [0.1 / 2 ** k for k in range(5)]:
        theta = {n: theta0[n] + eps * direction[n] for n in theta0}
        _set(lin.net, theta)
        _set(moved, theta)
        with torch.no_grad():
            errors.append(float((lin(x) - moved(x)).norm()))
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    np.testing.assert_allclose(ratios, 4.0, rtol=0.1)


def test_gradient_is_the_jacobian_at_theta0() -> None:
    x, _ = _data(n=4)
    model = MLP(3, (7,), 2, activation_name="tanh", dtype=DT, seed=2)
    names = [n for n, _ in model.named_parameters()]
    theta0 = tuple(p.detach().clone() for p in model.parameters())
    jac = torch.autograd.functional.jacobian(lambda *ps: functional_call(model, dict(zip(names, ps)), (x,)), theta0)
    lin = Linearized(model)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # move away from θ0: the gradient must still be J at θ0
        for p in lin.net.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=DT))
    out = lin(x)
    for i in range(out.shape[0]):
        for c in range(out.shape[1]):
            grads = torch.autograd.grad(out[i, c], list(lin.net.parameters()), retain_graph=True)
            for k, gk in enumerate(grads):
                np.testing.assert_allclose(gk, jac[k][i, c], rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------------------------
# (3) GD on the linearization is discrete-time kernel regression with the η-weighted NTK


def test_gd_equals_kernel_regression() -> None:
    n, lr, steps = 6, 0.05, 40
    x, y = _data(n=n, seed=4)
    x_test, _ = _data(n=3, seed=5)
    model = MLP(3, (10, 10), 2, activation_name="tanh", dtype=DT, seed=4)
    mult = {"layers.0": 2.0, "layers.1": 0.5, "layers.2": 1.5}
    # the η-weighted empirical NTK at θ0 from autograd Jacobians; a layer's bias shares its η
    eta = {id(p): g["eta"] for g in param_groups(model, lr, mult) for p in g["params"]}
    names = [n for n, _ in model.named_parameters()]
    params = list(model.parameters())
    theta0 = tuple(p.detach().clone() for p in params)
    xs = torch.cat([x, x_test])
    jac = torch.autograd.functional.jacobian(lambda *ps: functional_call(model, dict(zip(names, ps)), (xs,)), theta0)
    K = sum(eta[id(p)] * j.reshape(len(xs) * 2, -1) @ j.reshape(len(xs) * 2, -1).T for p, j in zip(params, jac))
    K = K.numpy()
    tr = slice(0, 2 * n)
    with torch.no_grad():
        f0 = model(xs).numpy().ravel()
    r = f0[tr] - y.numpy().ravel()
    f_test = f0[2 * n:].copy()
    A = np.eye(2 * n) - lr / n * K[tr, tr]
    assert 0.2 < np.abs(np.linalg.eigvalsh(A)).min() and np.abs(np.linalg.eigvalsh(A)).max() < 1  # stable, moving
    for _ in range(steps):
        f_test -= lr / n * K[2 * n:, tr] @ r
        r = A @ r
    lin = Linearized(model)
    _gd_lin(lin, x, y, lr, steps, mult)
    with torch.no_grad():
        np.testing.assert_allclose(lin(x).numpy().ravel() - y.numpy().ravel(), r, rtol=0, atol=1e-10)
        np.testing.assert_allclose(lin(x_test).numpy().ravel(), f_test, rtol=0, atol=1e-10)
    assert np.linalg.norm(r) < 0.9 * np.linalg.norm(f0[tr] - y.numpy().ravel())  # it did train


def _gd_lin(lin: Linearized, x, y, lr, steps, mult) -> None:
    opt = make_optimizer(lin.net, lr, mult)
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * ((lin(x) - y) ** 2).sum(-1).mean()).backward()
        opt.step()


# ------------------------------------------------------------------------------------------------
# modes, buffers, devices/dtypes


def test_batch_norm_and_dropout_modes() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Dropout(0.5), nn.Linear(4, 1)).double()
    with pytest.raises(InputError, match="batch norm"):
        Linearized(model)
    model[1].eval()
    with pytest.raises(InputError, match="dropout"):
        Linearized(model)
    x, _ = _data(n=5)
    model.train(False)
    with torch.no_grad():
        model[1].running_mean.fill_(0.3)
        model[1].running_var.fill_(2.0)
    lin = Linearized(model)
    lin.train()  # the Taylor model stays in the construction mode: eval
    np.testing.assert_allclose(lin(x).detach(), model(x).detach(), rtol=0, atol=1e-14)
    assert lin.net[3].training  # the user's switch is kept outside forward
    np.testing.assert_array_equal(lin.net[1].running_mean, 0.3)


def test_to_moves_theta0_and_parameters_are_the_nets() -> None:
    x, _ = _data(n=3)
    lin = Linearized(MLP(3, (5,), 2, dtype=DT))
    assert list(lin.parameters()) == list(lin.net.parameters())
    assert {n for n, _ in lin.named_buffers()} == {"theta0." + n for n, _ in lin.net.named_parameters()}
    lin = lin.to(torch.float32)
    assert all(b.dtype == torch.float32 for b in lin.buffers())
    assert lin(x.float()).dtype == torch.float32
    with pytest.raises(InputError):
        Linearized(nn.ReLU())


# ------------------------------------------------------------------------------------------------
# (4) linearization_gap


def test_linearization_gap() -> None:
    f0 = np.zeros((2, 2))
    f = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert linearization_gap(f, f, f0) == 0.0
    assert linearization_gap(f0, f0, f0) == 0.0  # nothing moved
    # ‖f − f_lin‖ = √2, max(‖f − f0‖, ‖f_lin − f0‖) = max(√2, 2)
    f_lin = np.array([[0.0, 0.0], [0.0, 2.0]])
    assert linearization_gap(f, f_lin, f0) == pytest.approx(np.sqrt(2) / 2, abs=1e-15)
    assert linearization_gap(f_lin, f, f0) == pytest.approx(np.sqrt(2) / 2, abs=1e-15)
    assert linearization_gap(torch.tensor(f), torch.tensor(-f), torch.tensor(f0)) == pytest.approx(2.0)
    t = torch.tensor(f, requires_grad=True)
    assert linearization_gap(t, f, f0) == 0.0
    with pytest.raises(InputError, match="shape"):
        linearization_gap(f, f[:1], f0)
    with pytest.raises(InputError, match="non-finite"):
        linearization_gap(f, np.full((2, 2), np.nan), f0)
    with pytest.raises(InputError):
        linearization_gap("a", f, f0)
