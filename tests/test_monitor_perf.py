"""MechanismMonitor recording: intervals, callbacks, device and dtype following, the batched fast NTK."""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from featmech.errors import InputError  # noqa: E402
from featmech.nets.monitor import (  # noqa: E402
    DEFAULT_ALIGNMENT_EVERY,
    MechanismMonitor,
    MonitorRecord,
    empirical_ntk,
    fast_ntk,
)
from featmech.nets.networks import MLP, SmallCNN, train, weight_layers  # noqa: E402


def _exact_zeta(model):
    """ζ_l from NumPy products of the weights (independent of the monitor)."""
    W = [m.weight.detach().cpu().double().numpy() for _, m in weight_layers(model)]
    return [np.linalg.norm(W[i + 1] @ W[i]) / (np.linalg.norm(W[i + 1]) * np.linalg.norm(W[i]))
            for i in range(len(W) - 1)]


def _brute_ntk(model, x, eta):
    """A loop of torch.autograd.grad over examples and outputs (no torch.func, no hooks): test_nets's reference."""
    from test_nets import brute_ntk

    return brute_ntk(model, x, eta)


def test_default_intervals_and_exact_zeta_at_the_right_steps():
    torch.manual_seed(0)
    net = MLP(5, (7, 6), 3, seed=0, dtype=torch.float64)
    x = torch.randn(12, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (12,))
    seen = {}
    mon = MechanismMonitor(net, x, y.numpy(), ntk_every=25, callback=lambda r: seen.setdefault(r.step, r))
    assert (mon.every, mon.alignment_every, mon.ntk_every) == (1, DEFAULT_ALIGNMENT_EVERY, 25) == (1, 10, 25)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    expect = {}
    mon.step(0)
    expect[0] = _exact_zeta(net)
    for t in range(1, 31):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
        mon.step(t)
        expect[t] = _exact_zeta(net)
    assert mon.steps == list(range(31)) and mon.ntk_steps == [0, 25]
    zeta = np.array(mon.zetas)
    with_zeta = [t for t in range(31) if t % 10 == 0 or t % 25 == 0]
    assert with_zeta == [0, 10, 20, 25, 30]
    for t in range(31):
        if t in with_zeta:
            assert np.allclose(zeta[t], expect[t], rtol=1e-12, atol=0)
            assert dict(seen[t].alignment) == pytest.approx(dict(zip(mon.pairs, expect[t])), rel=1e-12)
        else:
            assert np.all(np.isnan(zeta[t])) and dict(seen[t].alignment) == {}
    # the callback saw every record once, with the same numbers as the lists
    assert sorted(seen) == mon.steps
    for t, r in seen.items():
        assert isinstance(r, MonitorRecord) and list(r.norms.values()) == mon.norms[t]
        assert bool(r.ntk) == (t in (0, 25))
    assert seen[25].ntk["ntk_trace"] == mon.ntk_trace[1] and seen[25].ntk["probe_loss"] == mon.probe_loss[1]
    norms = [np.linalg.norm(m.weight.detach().numpy()) for _, m in weight_layers(net)]
    assert np.allclose(mon.norms[-1], norms, rtol=1e-12)


def test_interval_options_and_mistakes():
    net = MLP(3, (4,), 2, seed=0)
    x = np.zeros((4, 3))
    assert MechanismMonitor(net, x, every=4).alignment_every == 12  # 10 rounded up to a multiple of every
    assert MechanismMonitor(net, x, every=20).alignment_every == 20
    exact = MechanismMonitor(net, x, alignment_every=1, ntk_every=0)
    for t in range(5):
        exact.step(t)
    assert not np.any(np.isnan(exact.zetas))
    for kw, word in (({"every": 3, "alignment_every": 4}, "multiple"), ({"alignment_every": 0}, "alignment_every"),
                     ({"callback": 3}, "callable")):
        with pytest.raises(InputError, match=word):
            MechanismMonitor(net, x, **kw)


def test_callbacks_see_every_record_and_their_errors_propagate():
    class FakeWriter:  # the SummaryWriter interface the docstring's example uses
        def __init__(self):
            self.calls = []

        def add_scalar(self, tag, value, step):
            self.calls.append((tag, value, step))

    writer, steps = FakeWriter(), []
    net = MLP(4, (6,), 3, seed=1)
    x = np.random.default_rng(0).normal(size=(9, 4))
    y = np.arange(9) % 3
    mon = MechanismMonitor(net, x, y, every=2, ntk_every=6)
    mon.add_callback(lambda r: [writer.add_scalar(tag, v, r.step) for tag, v in r.scalars().items()])
    mon.add_callback(lambda r: steps.append(r.step))
    train(net, x, y, lr=0.1, steps=12, loss="ce", monitor=mon)
    assert steps == mon.steps == list(range(0, 13, 2))
    tags = {tag for tag, _, s in writer.calls if s == 6}
    assert tags == {"norm/layers.0", "norm/layers.1", "alignment/layers.0->layers.1", "ntk/ntk_trace",
                    "ntk/kernel_distance", "ntk/kernel_target_alignment", "ntk/probe_loss", "ntk/probe_accuracy"}
    assert {tag for tag, _, s in writer.calls if s == 2} == {"norm/layers.0", "norm/layers.1"}  # no ζ at step 2

    def boom(record):
        raise RuntimeError("from the callback")

    mon2 = MechanismMonitor(net, x, y, callback=boom)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    with pytest.raises(RuntimeError, match="from the callback"):
        mon2.attach(opt)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_probe_follows_the_model_dtype(dtype):
    x = np.random.default_rng(1).normal(size=(10, 4))
    y = np.arange(10) % 2
    a = MLP(4, (8,), 2, seed=3, dtype=torch.float64)
    b = copy.deepcopy(a)
    ref = MechanismMonitor(a, x, y, ntk_every=1)
    ref.step(0)
    mon = MechanismMonitor(b, x, y, ntk_every=1)  # built on the float64 model, which is then converted
    b.to(dtype)
    mon.step(0)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    assert np.allclose(mon.norms, ref.norms, rtol=tol) and np.allclose(mon.zetas, ref.zetas, rtol=tol)
    for q in ("ntk_trace", "kernel_target_alignment", "probe_loss"):
        assert np.allclose(getattr(mon, q), getattr(ref, q), rtol=tol), q
    assert all(isinstance(v, float) for v in mon.norms[0] + mon.ntk_trace + mon.probe_loss)


def test_the_model_may_move_between_records():
    """Records made before and after the model changes dtype (as it would change device) stay in order."""
    x = np.random.default_rng(2).normal(size=(6, 3))
    net = MLP(3, (5,), 2, seed=0)
    mon = MechanismMonitor(net, x, ntk_every=2, alignment_every=1)
    mon.step(0)
    mon.step(1)
    net.double()
    mon.step(2)
    z = _exact_zeta(net)
    assert mon.steps == [0, 1, 2] and mon.ntk_steps == [0, 2]
    assert np.allclose(mon.zetas[2], z, rtol=1e-12) and np.allclose(mon.zetas[0], z, rtol=1e-6)
    assert mon.kernel_distance[1] == pytest.approx(0.0, abs=1e-6)


def test_fast_ntk_against_brute_force_autograd():
    torch.manual_seed(0)
    mlp = MLP(3, (4, 5), 2, activation_name="tanh", init_scale=1.3, seed=2, dtype=torch.float64)
    x = torch.randn(6, 3, dtype=torch.float64)
    eta = {"layers.0.weight": 2.0, "layers.0.bias": 2.0, "layers.2.weight": 0.5}
    assert torch.allclose(fast_ntk(mlp, x, eta), _brute_ntk(mlp, x, eta), rtol=1e-12, atol=1e-12)
    # conv layers go through empirical_ntk, the Linear head through the structured path
    cnn = SmallCNN((1, 5, 5), 3, channels=4, seed=1, dtype=torch.float64)
    xc = torch.randn(4, 25, dtype=torch.float64)
    assert torch.allclose(fast_ntk(cnn, xc, {"head.weight": 3.0}), _brute_ntk(cnn, xc, {"head.weight": 3.0}),
                          rtol=1e-10, atol=1e-12)
    # float32: the same kernel to float32 precision
    m32 = MLP(3, (4, 5), 2, activation_name="relu", seed=2)
    x32 = torch.randn(6, 3)
    K, E = fast_ntk(m32, x32), empirical_ntk(m32, x32)
    assert K.dtype == torch.float32 and torch.allclose(K, E, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_run_matches_the_cpu_run():
    from featmech.data import load_dataset

    ds = load_dataset("digits")
    runs = []
    for device in ("cpu", "cuda"):
        net = MLP(64, (256, 256), 10, seed=0).to(device)
        mon = MechanismMonitor(net, ds.x_train[:64], ds.y_train[:64], ntk_every=20)
        opt = torch.optim.SGD(net.parameters(), lr=0.05)
        mon.attach(opt)
        X = torch.as_tensor(np.array(ds.x_train[:256]), dtype=torch.float32, device=device)
        Y = torch.as_tensor(np.array(ds.y_train[:256]), device=device)
        for t in range(60):
            idx = slice((t * 64) % 256, (t * 64) % 256 + 64)
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(X[idx]), Y[idx]).backward()
            opt.step()
        runs.append(mon)
    cpu, gpu = runs
    assert cpu.steps == gpu.steps and cpu.ntk_steps == gpu.ntk_steps == [0, 20, 40, 60]
    assert np.allclose(gpu.norms, cpu.norms, rtol=1e-5)
    assert np.allclose(np.array(gpu.zetas), np.array(cpu.zetas), rtol=1e-5, equal_nan=True)
    for q in ("ntk_trace", "kernel_target_alignment", "probe_loss", "probe_accuracy"):
        assert np.allclose(getattr(gpu, q), getattr(cpu, q), rtol=1e-4, atol=1e-6), q
    assert np.allclose(gpu.kernel_distance, cpu.kernel_distance, rtol=1e-3, atol=1e-6)
