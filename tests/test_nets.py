"""Networks, data readers, the MechanismMonitor and the experiments (PyTorch extra)."""

from __future__ import annotations

import gzip
import json
import struct
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from featmech.data import CIFAR10_FILES, MNIST_FILES, load_cifar10, load_dataset, load_mnist, read_idx, regression_1d  # noqa: E402
from featmech.nets.monitor import MechanismMonitor, empirical_ntk, pair_alignment  # noqa: E402
from featmech.nets.networks import MLP, SmallCNN, TwoLayerNet, param_groups, train, weight_layers  # noqa: E402
from featmech.theory.simulate import simulate  # noqa: E402


def test_monitor_reproduces_the_exact_linear_dynamics():
    """Full-batch GD of the linear two-layer net = the width-free exact GD with the sample moments."""
    d, lr, steps = 300, 0.01, 600
    x, y = regression_1d(200, target=1.0, seed=3)
    net = TwoLayerNet(d, "linear", sigma_u=1.0, sigma_w=1.0, rho=0.2, kappa=1.0 / d, seed=1)
    u0, w0 = net.u.copy(), net.w.copy()
    mult = {"hidden": 0.5 * d, "output": 2.0 * d}
    mon = MechanismMonitor(net, x, y, every=20, ntk_every=60, multipliers=mult)
    train(net, x, y, lr=lr, steps=steps, multipliers=mult, monitor=mon)
    V = float(np.mean(x**2))
    k = float(np.mean(x * y)) / V
    sim = simulate(u0, w0, lr=lr, steps=steps, eta_u=2.0 * d, eta_w=0.5 * d, kappa=1.0 / d, target=k, data_var=V,
                   every=20)
    h = mon.history()
    assert np.array_equal(h["step"], sim.step)
    assert np.max(np.abs(h["zeta"][:, 0] - np.abs(sim.alignment))) < 1e-12
    assert np.allclose(h["norms"][:, 1], sim.norm_u, rtol=1e-12) and np.allclose(h["norms"][:, 0], sim.norm_w, rtol=1e-12)
    idx = [list(sim.step).index(s) for s in h["ntk_step"]]
    # trace(K)/n over the whole sample = κ²(η_w|u|² + η_u|w|²)·mean(x²) = THEORY.md's K with V = mean(x²)
    assert np.allclose(h["ntk_trace"], sim.ntk[idx], rtol=1e-12)
    c = mon.classify()["hidden->output"]
    assert c.regime == "feature" and c.mechanism == "alignment"


def brute_ntk(model, x, eta):
    """Loop over examples and outputs with torch.autograd.grad (no torch.func)."""
    params = list(model.named_parameters())
    grads = []
    for i in range(x.shape[0]):
        out = model(x[i : i + 1]).reshape(-1)
        rows = []
        for c in range(out.shape[0]):
            g = torch.autograd.grad(out[c], [p for _, p in params], retain_graph=True)
            rows.append(torch.cat([gg.reshape(-1) * np.sqrt(eta.get(n, 1.0)) for (n, _), gg in zip(params, g)]))
        grads.append(torch.stack(rows))
    G = torch.stack(grads)  # n × out × P
    return torch.einsum("iap,jap->ij", G, G)


def test_empirical_ntk_and_zeta_against_brute_force():
    torch.manual_seed(0)
    mlp = MLP(3, (4, 5), 2, activation_name="tanh", init_scale=1.3, seed=2, dtype=torch.float64)
    x = torch.randn(6, 3, dtype=torch.float64)
    eta = {"layers.0.weight": 2.0, "layers.0.bias": 2.0, "layers.2.weight": 0.5}
    K = empirical_ntk(mlp, x, eta)
    assert torch.allclose(K, brute_ntk(mlp, x, eta), rtol=1e-12, atol=1e-12)
    W = [m.weight.detach().numpy() for _, m in weight_layers(mlp)]
    for i in range(2):
        z = np.linalg.norm(W[i + 1] @ W[i]) / (np.linalg.norm(W[i + 1]) * np.linalg.norm(W[i]))
        assert pair_alignment(torch.as_tensor(W[i + 1]), torch.as_tensor(W[i])) == pytest.approx(z, rel=1e-12)
    cnn = SmallCNN((1, 5, 5), 3, channels=4, seed=1, dtype=torch.float64)
    xc = torch.randn(4, 25, dtype=torch.float64)
    assert torch.allclose(empirical_ntk(cnn, xc), brute_ntk(cnn, xc, {}), rtol=1e-10, atol=1e-12)
    W1, W2 = cnn.conv1.weight.detach().numpy(), cnn.conv2.weight.detach().numpy()
    comp = np.einsum("oxab,xicd->oabicd", W2, W1)  # the composed channel map, all kernel offsets
    z = np.linalg.norm(comp) / (np.linalg.norm(W2) * np.linalg.norm(W1))
    assert pair_alignment(cnn.conv2.weight, cnn.conv1.weight) == pytest.approx(z, rel=1e-12)
    Wh = cnn.head.weight.detach().numpy()
    z2 = np.linalg.norm(np.einsum("ox,xiab->oiab", Wh, W2)) / (np.linalg.norm(Wh) * np.linalg.norm(W2))
    assert pair_alignment(cnn.head.weight, cnn.conv2.weight) == pytest.approx(z2, rel=1e-12)
    # two-layer net: |cos(u, w)|
    net = TwoLayerNet(7, "relu", rho=0.5, seed=3)
    cos = abs(net.u @ net.w) / (np.linalg.norm(net.u) * np.linalg.norm(net.w))
    assert pair_alignment(net.output.weight, net.hidden.weight) == pytest.approx(cos, rel=1e-12)


def _write_idx(path, arr, code, gz=False):
    head = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}i", *arr.shape)
    data = head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reader_on_generated_files(tmp_path, gz):
    rng = np.random.default_rng(0)
    xs = {n: rng.integers(0, 256, size=(m, 28, 28), dtype=np.uint8) for n, m in (("train", 12), ("t10k", 5))}
    ys = {n: rng.integers(0, 10, size=m).astype(np.uint8) for n, m in (("train", 12), ("t10k", 5))}
    suffix = ".gz" if gz else ""
    for n in ("train", "t10k"):
        _write_idx(tmp_path / f"{n}-images-idx3-ubyte{suffix}", xs[n], 0x08, gz)
        _write_idx(tmp_path / f"{n}-labels-idx1-ubyte{suffix}", ys[n], 0x08, gz)
    ds = load_mnist(tmp_path)
    assert ds.x_train.shape == (12, 784) and ds.x_test.shape == (5, 784)
    assert np.allclose(ds.x_train, xs["train"].reshape(12, -1) / 255.0)
    assert np.array_equal(ds.y_test, ys["t10k"])
    f = np.arange(6, dtype=">f8").reshape(2, 3)
    _write_idx(tmp_path / "f.idx", f, 0x0E)
    assert np.array_equal(read_idx(tmp_path / "f.idx"), f)
    (tmp_path / "bad.idx").write_bytes(b"\x01\x02\x03")
    with pytest.raises(ValueError, match="IDX"):
        read_idx(tmp_path / "bad.idx")


def test_cifar_reader_on_generated_files(tmp_path):
    rng = np.random.default_rng(1)
    recs = {}
    for name in ("data_batch_1.bin", "test_batch.bin"):
        lab = rng.integers(0, 10, size=3).astype(np.uint8)
        img = rng.integers(0, 256, size=(3, 3072), dtype=np.uint8)
        np.concatenate([lab[:, None], img], axis=1).tofile(tmp_path / name)
        recs[name] = (lab, img)
    ds = load_cifar10(tmp_path)
    assert ds.x_train.shape == (3, 3072) and ds.image_shape == (3, 32, 32)
    assert np.array_equal(ds.y_train, recs["data_batch_1.bin"][0])
    assert np.allclose(ds.x_test, recs["test_batch.bin"][1] / 255.0)


def test_missing_files_name_what_is_expected(tmp_path):
    with pytest.raises(ValueError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path)
    with pytest.raises(ValueError, match="data_batch_1.bin"):
        load_cifar10(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        load_mnist(tmp_path / "nope")
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="data_dir"):
        load_dataset("mnist")
    assert set(MNIST_FILES) and set(CIFAR10_FILES)


def test_bad_models_and_probes():
    with pytest.raises(ValueError, match="unknown activation"):
        TwoLayerNet(3, "gelu2")
    with pytest.raises(ValueError, match="no weight layers"):
        MechanismMonitor(torch.nn.Sequential(torch.nn.ReLU()), np.zeros((2, 1)))
    from featmech.nets.experiments import activations_experiment, make_probe

    with pytest.raises(ValueError, match="larger than the data"):
        make_probe(np.zeros((5, 2)), 6)
    with pytest.raises(ValueError, match="unknown activation"):
        activations_experiment("alignment", ["bogus"])
    with pytest.raises(ValueError, match="unknown layer"):
        param_groups(MLP(2, (3,), 2), 0.1, {"nope": 1.0})


def test_activation_experiment_quick():
    from featmech.nets.experiments import activations_experiment

    runs = activations_experiment("alignment", ["linear", "tanh"], quick=True)
    lin = runs[0]
    assert lin["theory_max_deviation"] <= 1e-3
    assert (lin["regime"], lin["mechanism"]) == ("feature", "alignment")
    assert len(lin["step"]) == len(lin["alignment"]) == len(lin["ntk"]) == len(lin["loss"]) == len(lin["theory_alignment"])
    runs = activations_experiment("disalignment", ["linear"], quick=True)
    assert runs[0]["theory_max_deviation"] <= 1e-3
    assert (runs[0]["regime"], runs[0]["mechanism"]) == ("feature", "disalignment")


def test_network_experiments_quick_and_seeded():
    from featmech.nets.experiments import init_scale_experiment, lr_ratio_experiment

    a = init_scale_experiment((1.0,), seeds=(0,), quick=True, steps=60)
    b = init_scale_experiment((1.0,), seeds=(0,), quick=True, steps=60)
    assert a[0]["test_accuracy"] == b[0]["test_accuracy"] and a[0]["ntk_ratio"] == b[0]["ntk_ratio"]
    assert {"scale", "seed", "test_accuracy", "ntk_ratio", "kernel_distance", "regime", "mechanism"} <= set(a[0])
    assert 0.0 <= a[0]["test_accuracy"] <= 1.0 and len(a[0]["pairs"]) == 2
    r = lr_ratio_experiment((0.1, 10.0), seeds=(0,), quick=True, steps=60, arch="cnn")
    assert [row["lr_ratio"] for row in r] == [0.1, 10.0]


def test_cli_experiments(tmp_path, capsys):
    from featmech.cli.main import main

    code = main(["experiment", "activations", "--case", "disalignment", "--activation", "linear", "--quick",
                 "--format", "json", "--out", str(tmp_path / "a")])
    out = capsys.readouterr().out
    assert code == 0
    obj = json.loads(out)
    for key in ("step", "alignment", "ntk", "loss", "theory_alignment", "regime", "mechanism"):
        assert key in obj
    assert (tmp_path / "a" / "activations_disalignment.png").exists()
    code = main(["experiment", "init-scale", "--scales", "1", "--seeds", "1", "--quick", "--steps", "40",
                 "--format", "json"])
    obj = json.loads(capsys.readouterr().out)
    assert code == 0 and len(obj["rows"]) == 1 and "kernel_distance" in obj["rows"][0]
    for bad in (["experiment", "activations", "--activation", "bogus"],
                ["experiment", "init-scale", "--dataset", "imagenet"],
                ["experiment", "init-scale", "--dataset", "mnist", "--data-dir", str(tmp_path)],
                ["experiment", "init-scale", "--scales", "0,-1"]):
        code = main(bad)
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1, (bad, err)


def test_core_imports_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import featmech, featmech.cli.main, featmech.analysis.phase, featmech.analysis.scaling, featmech.theory.simulate\n"
            "from featmech.cli.main import main\n"
            "assert main(['trajectory', '--points', '2', '--format', 'json']) == 0\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


@pytest.mark.slow
def test_full_activation_experiments():
    from featmech.nets.experiments import activations_experiment

    for case in ("alignment", "disalignment"):
        runs = activations_experiment(case)
        assert runs[0]["theory_max_deviation"] <= 1e-3
        assert runs[0]["mechanism"] == case
