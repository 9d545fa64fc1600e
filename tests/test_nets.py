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

from featmech.analysis.labels import Mechanism, Regime  # noqa: E402
from featmech.data import (  # noqa: E402
    CIFAR10_FILES,
    MNIST_FILES,
    load_cifar10,
    load_dataset,
    load_mnist,
    read_idx,
    regression_1d,
)
from featmech.nets.monitor import MechanismMonitor, empirical_ntk, pair_alignment  # noqa: E402
from featmech.nets.networks import (  # noqa: E402
    MLP,
    SmallCNN,
    TwoLayerNet,
    param_groups,
    train,
    weight_layers,
)
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
    h = mon.records()
    assert np.array_equal(h.step, sim.step)
    assert np.max(np.abs(h.zeta[:, 0] - np.abs(sim.alignment))) < 1e-12
    assert np.allclose(h.norms[:, 1], sim.norm_u, rtol=1e-12) and np.allclose(h.norms[:, 0], sim.norm_w, rtol=1e-12)
    idx = [list(sim.step).index(s) for s in h.ntk_step]
    # trace(K)/n over the whole sample = κ²(η_w|u|² + η_u|w|²)·mean(x²) = docs/theory.md's K with V = mean(x²)
    assert np.allclose(h.ntk_trace, sim.ntk[idx], rtol=1e-12)
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

    res = activations_experiment("alignment", ["linear", "tanh"], quick=True)
    lin = res.runs[0]
    assert lin.theory_max_deviation <= 1e-3
    assert (lin.regime, lin.mechanism) == (Regime.FEATURE, Mechanism.ALIGNMENT)
    assert len(lin.step) == len(lin.alignment) == len(lin.ntk) == len(lin.loss) == len(lin.theory_alignment)
    assert res.runs[1].theory_alignment is None and res.runs[1].theory_max_deviation is None
    # typed results: enums, read-only arrays, JSON content, the printed table and the CSV rows
    assert type(lin.regime) is Regime and type(lin.mechanism) is Mechanism
    with pytest.raises(ValueError):
        lin.alignment[0] = 0.0
    obj = res.as_dict()
    assert obj["case"] == "alignment" and [r["activation"] for r in obj["runs"]] == ["linear", "tanh"]
    assert json.loads(json.dumps(obj))["runs"][0]["regime"] == "feature"
    assert type(obj["runs"][0]["regime"]) is str and obj["runs"][0]["alignment"] == lin.alignment.tolist()
    t = res.table()
    assert list(t.columns) == ["activation", "regime", "mechanism", "status", "borderline", "alignment_start",
                               "alignment_end", "ntk_max_deviation", "theory_max_deviation"]
    assert t.columns["status"][0] == "converged" and lin.converged
    assert obj["runs"][0]["converged"] is True and obj["runs"][0]["status"] == "converged"
    assert t.columns["alignment_end"][0] == lin.classification.alignment_end
    assert t.columns["theory_max_deviation"] == [lin.theory_max_deviation, ""]
    csv_rows = res.summary()
    assert csv_rows.columns["activation"] == ["linear", "tanh"] and "alignment" not in csv_rows.columns
    assert csv_rows.columns["theory_max_deviation"] == [lin.theory_max_deviation, None]
    res = activations_experiment("disalignment", ["linear"], quick=True)
    assert res.runs[0].theory_max_deviation <= 1e-3
    assert (res.runs[0].regime, res.runs[0].mechanism) == (Regime.FEATURE, Mechanism.DISALIGNMENT)
    assert res.as_dict() == res.runs[0].as_dict()  # one run: the JSON content is the run itself


def test_network_experiments_quick_and_seeded():
    from featmech.nets.experiments import init_scale_experiment, lr_ratio_experiment

    a = init_scale_experiment((1.0,), seeds=(0,), quick=True, steps=60)
    b = init_scale_experiment((1.0,), seeds=(0,), quick=True, steps=60)
    assert a.runs[0].test_accuracy == b.runs[0].test_accuracy and a.runs[0].ntk_ratio == b.runs[0].ntk_ratio
    row = a.as_dict()["rows"][0]
    assert {"scale", "seed", "test_accuracy", "ntk_ratio", "kernel_distance", "regime", "mechanism"} <= set(row)
    assert 0.0 <= a.runs[0].test_accuracy <= 1.0 and len(a.runs[0].pairs) == 2
    r = lr_ratio_experiment((0.1, 10.0), seeds=(0,), quick=True, steps=60, arch="cnn")
    assert [run.lr_ratio for run in r.runs] == [0.1, 10.0]
    run = a.runs[0]
    assert type(run.regime) is Regime and all(type(p.mechanism) is Mechanism for p in run.pairs)
    assert row["pairs"][0]["pair"] == "layers.0->layers.1" and row["history"]["ntk_trace"] == run.history.ntk_trace.tolist()
    assert "history" not in a.as_dict(history=False)["rows"][0]
    t = r.table()
    assert list(t.columns) == ["lr_ratio", "seed", "test_accuracy", "ntk_ratio", "kernel_distance", "regime",
                               "mechanism", "status", "borderline", "per_pair"]
    assert t.columns["per_pair"][1] == ", ".join(p.mechanism for p in r.runs[1].pairs)
    s = a.summary()
    assert list(s.columns)[:3] == ["scale", "lr_ratio", "seed"] and "pairs" not in s.columns and "history" not in s.columns
    assert s.columns["test_accuracy"] == [run.test_accuracy]


def test_network_point_is_one_run():
    """The sweep computation: one run_network on the loaded data set, as a PointResult."""
    from featmech.nets.experiments import network_defaults, network_point, run_network
    from featmech.records import PointResult

    cfg = {"dataset": "digits", "data_dir": None, "arch": "mlp", "scale": 1.0, "lr_ratio": 1.0, "lr": 0.05,
           "steps": 30, "loss": "ce", "max_train": 300, "quick": True, "seed": 1}
    threads = torch.get_num_threads()
    try:
        p = network_point(cfg)
        assert torch.get_num_threads() == 1  # sweeps parallelize over points
        run = run_network(load_dataset("digits", max_train=300), network_defaults(True, steps=30, lr=0.05, seed=1))
    finally:
        torch.set_num_threads(threads)
    assert isinstance(p, PointResult)
    assert {k: v for k, v in p.scalars.items() if k != "seconds"} == {
        "test_accuracy": run.test_accuracy, "ntk_ratio": run.ntk_ratio, "kernel_distance": run.kernel_distance,
        "kernel_target_alignment": run.kernel_target_alignment, "regime": run.regime, "mechanism": run.mechanism,
        "converged": run.converged, "status": run.status, "borderline": run.borderline,
        "borderline_threshold": run.borderline_threshold, "diverged": run.diverged, "final_loss": run.final_loss,
        "pair_mechanisms": ",".join(p.mechanism for p in run.pairs)}
    assert np.array_equal(p.arrays["ntk_trace"], run.history.ntk_trace)
    assert np.array_equal(p.arrays["ntk_step"], [0, 25])


def test_user_mistakes_are_input_errors(tmp_path):
    """Each names the parameter (and its range or the expected files); nothing trains first."""
    from featmech.errors import InputError
    from featmech.nets.experiments import (
        activations_experiment,
        init_scale_experiment,
        lr_ratio_experiment,
    )
    from featmech.nets.networks import Training

    (tmp_path / "file").write_text("")
    bad = [
        (lambda: activations_experiment("sideways"), "unknown case"),
        (lambda: activations_experiment("alignment", ["linear"], n_data=0), "n_data"),
        (lambda: init_scale_experiment((1.0, 0.0)), r"scale must be in \(0, inf\)"),
        (lambda: lr_ratio_experiment((-1.0,)), "lr_ratio"),
        (lambda: init_scale_experiment((1.0,), steps=0), "steps"),
        (lambda: init_scale_experiment((1.0,), arch="resnet"), "arch must be one of mlp, cnn"),
        (lambda: init_scale_experiment((1.0,), loss="hinge"), "loss must be one of ce, mse"),
        (lambda: init_scale_experiment((1.0,), seeds=(-1,)), "seed"),
        (lambda: init_scale_experiment((1.0,), seeds=()), "seeds"),
        (lambda: init_scale_experiment((1.0,), dataset="imagenet"), "unknown dataset 'imagenet'"),
        (lambda: init_scale_experiment((1.0,), dataset="cifar10"), "data_dir.*data_batch_1.bin"),
        (lambda: load_dataset("mnist", data_dir=tmp_path / "file"), "not a directory.*train-images-idx3-ubyte"),
        (lambda: load_dataset("digits", max_train=0), "max_train"),
        (lambda: Training(lr=0.0, steps=1), "lr"),
        (lambda: train(MLP(2, (3,), 2), np.zeros((4, 2)), np.zeros(4, dtype=int), lr=0.1, steps=1, loss="hinge"),
         "loss"),
        (lambda: train(MLP(2, (3,), 2), np.zeros((4, 2)), np.zeros(4), lr=0.1, steps=1, batch_size=5), "batch_size"),
        (lambda: MechanismMonitor(MLP(2, (3,), 2), np.zeros((2, 2)), multipliers=[1.0, -1.0]), "multiplier"),
        (lambda: TwoLayerNet(3, u0=np.ones(3), w0=np.ones(2)), "u0|w0"),
    ]
    for f, msg in bad:
        with pytest.raises(InputError, match=msg):
            f()


def test_monitor_history_and_train_result_are_read_only():
    from featmech.nets.networks import Training
    from featmech.tables import Table

    x, y = regression_1d(16, seed=0)
    assert not x.flags.writeable  # data sets are read-only too; train copies them for torch
    results, hists = [], []
    for how in ("object", "keywords"):
        net = TwoLayerNet(5, "tanh", seed=0)
        mon = MechanismMonitor(net, x, y, every=2, ntk_every=4)
        if how == "object":
            results.append(train(net, x, y, Training(lr=0.05, steps=8), monitor=mon))
        else:
            results.append(train(net, x, y, lr=0.05, steps=8, monitor=mon))
        hists.append(mon.records())
    assert np.array_equal(results[0].losses, results[1].losses) and np.array_equal(hists[0].zeta, hists[1].zeta, equal_nan=True)
    res, h = results[0], hists[0]
    assert res.final_loss == res.losses[-1]
    with pytest.raises(ValueError):
        res.losses[0] = 1.0
    with pytest.raises(AttributeError):
        res.diverged = True
    assert list(h.step) == [0, 2, 4, 6, 8] and list(h.ntk_step) == [0, 4, 8] and list(h.ntk_rows()) == [0, 2, 4]
    assert h.layers == ("hidden", "output") and h.pairs == ("hidden->output",)
    for a in (h.step, h.norms, h.zeta, h.ntk_trace, h.kernel_distance):
        with pytest.raises(ValueError):
            a[0] = 0
    t = mon.table()
    assert isinstance(t, Table) and list(t.columns) == ["step", "quantity", "name", "value"]
    assert t.n_rows == 5 * 2 + int(np.isfinite(h.zeta).sum()) + 3 * 5  # no alignment row where ζ was not computed
    assert int(np.isfinite(h.zeta).sum()) == 3  # ζ at step 0 and the NTK steps 4, 8 (alignment_every=10)
    # the probe here is the whole training set: its loss is train's loss before the update of that step
    assert np.allclose(h.probe_loss[:2], res.losses[[0, 4]], rtol=1e-12) and np.all(np.isnan(h.probe_accuracy))
    norms = [v for q, v in zip(t.columns["quantity"], t.columns["value"]) if q == "norm"]
    assert np.allclose(norms, h.norms.ravel())


def test_a_digits_run_at_chance_did_not_train():
    """Scale 0.1 for 150 steps never leaves the saddle: loss ln 10, chance accuracy -> no label, said in words."""
    import math

    from featmech.analysis.labels import Status
    from featmech.analysis.regimes import chance_accuracy
    from featmech.nets.experiments import init_scale_experiment

    calls = []
    res = init_scale_experiment((0.1,), seeds=(0,), quick=True, progress=lambda *a: calls.append(a))
    run = res.runs[0]
    n_test = len(load_dataset("digits").x_test)
    assert abs(run.final_loss - math.log(10)) < 0.05 and run.test_accuracy <= chance_accuracy(10, n_test)
    assert (run.regime, run.mechanism, run.status, run.converged) == (Regime.UNDETERMINED, Mechanism.NONE,
                                                                      Status.DID_NOT_TRAIN, False)
    assert all(p.regime == "undetermined" and p.classification.status == "did not train" for p in run.pairs)
    row = json.loads(json.dumps(res.as_dict(history=False)))["rows"][0]
    assert row["regime"] == "undetermined" and row["status"] == "did not train" and row["converged"] is False
    assert res.table().columns["status"] == ["did not train"]
    assert res.summary().columns["status"] == ["did not train"]
    # progress: before the run (done 0) and after it (done 1, with the outcome in words)
    assert [c[:2] for c in calls] == [(0, 1), (1, 1)] and calls[0][2] == "scale=0.1 seed=0"
    assert calls[1][2].startswith("scale=0.1 seed=0: undetermined (did not train), ")
    with pytest.raises(ValueError, match="progress"):
        init_scale_experiment((1.0,), progress="yes")


def test_monitor_labels_only_a_converged_run():
    from featmech.analysis.labels import Status
    from featmech.errors import InputError

    x, y = regression_1d(64, target=1.0, seed=0)
    net = TwoLayerNet(50, "linear", sigma_u=0.1, sigma_w=0.1, seed=0)
    mon = MechanismMonitor(net, x, y, every=5, ntk_every=5)
    res = train(net, x, y, lr=0.05, steps=20, monitor=mon)  # far from converged
    assert res.losses[-1] > 1e-2 * res.losses[0]
    c = mon.classify()["hidden->output"]  # judged from the recorded probe loss (the probe is the data)
    assert (c.regime, c.status, c.converged) == (Regime.UNDETERMINED, Status.NOT_CONVERGED, False)
    assert mon.classify(losses=res.losses)["hidden->output"].status is Status.NOT_CONVERGED
    assert mon.classify(status="converged")["hidden->output"].converged  # the caller vouches
    assert mon.classify(diverged=True)["hidden->output"].regime == "unstable"
    with pytest.raises(InputError, match="either losses or status"):
        mon.classify(losses=res.losses, status="converged")
    blind = MechanismMonitor(net, x, every=1, ntk_every=1)
    blind.step(0)
    with pytest.raises(InputError, match="cannot tell whether training converged"):
        blind.classify()
    assert blind.classify(losses=[1.0, 1e-3])["hidden->output"].converged
    with pytest.raises(InputError, match="loss must be one of"):
        MechanismMonitor(net, x, y, loss="hinge")
    with pytest.raises(InputError, match="integer class labels"):
        MechanismMonitor(net, x, y, loss="ce")


def test_monitor_warns_once_on_an_adaptive_optimizer():
    import warnings

    from featmech.nets.monitor import is_adaptive

    torch.manual_seed(0)
    model = MLP(4, (8,), 2)
    x = np.random.default_rng(0).normal(size=(6, 4))
    for opt in (torch.optim.Adam(model.parameters()), torch.optim.AdamW(model.parameters()),
                torch.optim.RMSprop(model.parameters()), torch.optim.Adagrad(model.parameters())):
        assert is_adaptive(opt)
        mon = MechanismMonitor(model, x, every=1, ntk_every=1)
        with pytest.warns(UserWarning, match="adaptive optimizer.*assumes SGD steps") as rec:
            mon.attach(opt).remove()
            mon.attach(opt).remove()  # once per monitor
        assert len([w for w in rec if "adaptive" in str(w.message)]) == 1, type(opt).__name__
    for opt in (torch.optim.SGD(model.parameters(), lr=0.1), torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)):
        assert not is_adaptive(opt)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            MechanismMonitor(model, x, every=1, ntk_every=1).attach(opt).remove()


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
        res = activations_experiment(case)
        assert res.runs[0].theory_max_deviation <= 1e-3
        assert res.runs[0].mechanism == case


def test_mnist1d_is_the_generator_default_split():
    """MNIST-1D comes from mnist1d's make_dataset on its defaults (4000/1000, 40 features), read-only."""
    from mnist1d.data import get_dataset_args, make_dataset

    from featmech.data import load_dataset
    ds = load_dataset("mnist1d")
    ref = make_dataset(get_dataset_args())
    assert ds.x_train.shape == (4000, 40) and ds.x_test.shape == (1000, 40) and ds.n_classes == 10
    np.testing.assert_array_equal(ds.x_train, ref["x"])
    np.testing.assert_array_equal(ds.y_test, ref["y_test"])
    assert not ds.x_train.flags.writeable
