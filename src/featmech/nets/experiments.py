"""Experiments: the three mechanisms beyond the linear model (PyTorch, ``featmech[torch]``).

- :func:`activations_experiment`: ζ(t) of the two-layer net f(x) = κ Σ u_i σ(w_i x) on 1-D data,
  in the alignment case (small balanced iid init, mean-field scaling, λ = 2) and the
  disalignment case (correlated init ρ = 0.9 whose output overshoots a small target), for
  every activation; for ``linear`` the exact gradient flow is overlaid (|ζ|, since the monitor's
  Frobenius alignment of a 1×d by d×1 pair is |cos(u, w)|).
- :func:`init_scale_experiment`: an MLP on digits (or MNIST/CIFAR-10 files) per init scale and
  seed: test accuracy, NTK change, kernel distance and the mechanism of each layer pair.
- :func:`lr_ratio_experiment`: the same over the output-to-hidden learning-rate ratio.

Each returns plain data (lists of dicts / dicts of lists) that the CLI writes as JSON and CSV.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

try:
    import torch
except ImportError as exc:  # pragma: no cover - optional
    raise ImportError("featmech.experiments needs PyTorch: pip install 'featmech[torch]'") from exc

from featmech._validation import check_int, check_scalar
from featmech.analysis.regimes import Thresholds
from featmech.data import load_dataset, regression_1d
from featmech.errors import InputError
from featmech.nets.monitor import MechanismMonitor
from featmech.nets.networks import ACTIVATIONS, MLP, SmallCNN, TwoLayerNet, train
from featmech.records import PointResult
from featmech.theory.exact import solve

__all__ = ["ALL_ACTIVATIONS", "CASES", "activations_experiment", "init_scale_experiment", "lr_ratio_experiment",
           "ActivationCase", "make_probe", "network_defaults", "run_network", "network_point"]

ALL_ACTIVATIONS = ("linear", "relu", "leaky_relu", "tanh", "sigmoid", "silu")


@dataclass(frozen=True)
class ActivationCase:
    """One configuration of the two-layer experiment (THEORY.md §5 canonical cases (i) and (v))."""

    width: int
    sigma_u: float
    sigma_w: float
    rho: float
    eta: float  # η_u = η_w
    kappa: float
    target: float
    lr: float
    steps: int


def _cases(quick: bool) -> dict[str, ActivationCase]:
    d = 128 if quick else 512
    dd = 1000
    return {
        # mean-field: σ = 1, η = d, κ = 1/d → λ = 4k/(κ s N) = 2, K0 ≈ 2
        "alignment": ActivationCase(d, 1.0, 1.0, 0.0, float(d), 1.0 / d, 1.0, 2e-3 if quick else 1e-3,
                                    2500 if quick else 6000),
        # correlated ρ = 0.9, κ = 1/d, k = 0.05: κ p0 ≈ 0.9 overshoots the target, K0 ≈ 2e-3
        "disalignment": ActivationCase(dd, 1.0, 1.0, 0.9, 1.0, 1.0 / dd, 0.05, 5.0, 800 if quick else 1600),
    }


CASES = ("alignment", "disalignment")


def make_probe(x: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` examples of ``x`` chosen by ``seed`` (error if the data set is smaller)."""
    n = check_int("probe size", n, low=1)
    if n > len(x):
        raise InputError(f"probe batch of {n} is larger than the data ({len(x)} examples)")
    return x[np.random.default_rng(seed).permutation(len(x))[:n]]


def activations_experiment(case: str = "alignment", activations: Sequence[str] = ALL_ACTIVATIONS, *,
                           seed: int = 0, quick: bool = False, n_data: int = 256, ntk_every: int | None = None,
                           thresholds: Thresholds | None = None) -> list[dict[str, Any]]:
    """ζ(t), NTK and loss of the two-layer net for each activation (full-batch GD on fixed samples).

    Returns one dict per activation with arrays ``step, time, alignment, ntk, loss``, the labels
    ``regime, mechanism`` (and the numbers), and for ``linear`` ``theory_alignment`` (exact flow
    from the same init and the sample moments V = mean x², k = mean xy / V) and its max deviation.
    """
    if case not in CASES:
        raise InputError(f"unknown case {case!r}; choose from {', '.join(CASES)}")
    for a in activations:
        if a not in ACTIVATIONS:
            raise InputError(f"unknown activation {a!r}; choose from {', '.join(ACTIVATIONS)}")
    c = _cases(quick)[case]
    x, y = regression_1d(check_int("n_data", n_data, low=1), target=c.target, seed=seed)
    every = max(1, c.steps // 100)
    nk = ntk_every or max(every, c.steps // 20)
    out = []
    for act in activations:
        t0 = time.perf_counter()
        net = TwoLayerNet(c.width, act, sigma_u=c.sigma_u, sigma_w=c.sigma_w, rho=c.rho, kappa=c.kappa, seed=seed)
        u0, w0 = net.u.copy(), net.w.copy()
        mult = {"hidden": c.eta, "output": c.eta}
        mon = MechanismMonitor(net, x, y, every=every, ntk_every=nk, multipliers=mult)
        res = train(net, x, y, lr=c.lr, steps=c.steps, multipliers=mult, monitor=mon)
        h = mon.history()
        # per-step loss at the recorded steps: the loss before update t is losses[t]
        loss_at = [float(res.losses[s]) if s < c.steps else float(_mse(net, x, y)) for s in h["step"]]
        ntk_at = np.interp(h["step"], h["ntk_step"], h["ntk_trace"])
        cl = mon.classify(thresholds, diverged=res.diverged)["hidden->output"]
        row: dict[str, Any] = {
            "case": case, "activation": act, "width": c.width, "lr": c.lr, "steps": c.steps, "seed": seed,
            "step": h["step"].tolist(), "time": (h["step"] * c.lr).tolist(), "alignment": h["zeta"][:, 0].tolist(),
            "ntk": ntk_at.tolist(), "ntk_step": h["ntk_step"].tolist(), "ntk_exact_steps": h["ntk_trace"].tolist(),
            "loss": loss_at, "regime": cl.regime, "mechanism": cl.mechanism, "classification": cl.as_dict(),
            "diverged": res.diverged, "seconds": time.perf_counter() - t0,
        }
        if act == "linear":
            V = float(np.mean(x**2))
            k = float(np.mean(x * y)) / V
            sol = solve(u0, w0, eta_u=c.eta, eta_w=c.eta, kappa=c.kappa, target=k, data_var=V)
            th = np.abs(sol(h["step"] * c.lr).alignment)
            row["theory_alignment"] = th.tolist()
            row["theory_max_deviation"] = float(np.max(np.abs(th - h["zeta"][:, 0])))
        out.append(row)
    return out


def _mse(net: Any, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        X = torch.as_tensor(x, dtype=next(net.parameters()).dtype)
        return float(0.5 * ((net(X) - torch.as_tensor(y, dtype=X.dtype)) ** 2).sum(-1).mean())


def _summarize_pairs(mon: MechanismMonitor, th: Thresholds | None, diverged: bool) -> tuple[str, str, list[dict[str, Any]]]:
    cls = mon.classify(th, diverged=diverged)
    pairs = [{"pair": name, "regime": c.regime, "mechanism": c.mechanism, "alignment_start": c.alignment_start,
              "alignment_end": c.alignment_end, "balance_change": c.balance_change,
              "ntk_max_deviation": c.ntk_max_deviation} for name, c in cls.items()]
    regime = pairs[0]["regime"]  # the NTK is global: every pair has the same regime
    feats = [p["mechanism"] for p in pairs if p["mechanism"] != "none"]
    mech = Counter(feats).most_common(1)[0][0] if feats else "none"
    return regime, mech, pairs


def run_network(ds: Any, *, arch: str, scale: float, out_mult: float, seed: int, steps: int, lr: float,
                 batch_size: int | None, hidden: Sequence[int], probe: int, ntk_every: int, loss: str,
                 th: Thresholds | None) -> dict[str, Any]:
    """Train one MLP/CNN on ``ds`` with the MechanismMonitor; a dict of scalars, pairs and history."""
    torch.manual_seed(seed)
    if arch == "mlp":
        net = MLP(ds.n_features, hidden, ds.n_classes, init_scale=scale, seed=seed)
    elif arch == "cnn":
        net = SmallCNN(ds.image_shape, ds.n_classes, init_scale=scale, seed=seed)
    else:
        raise InputError(f"unknown architecture {arch!r}; choose mlp or cnn")
    from featmech.nets.networks import weight_layers

    names = [n for n, _ in weight_layers(net)]
    mult = {n: 1.0 for n in names}
    mult[names[-1]] = out_mult
    px = make_probe(ds.x_train, probe, seed)
    py = ds.y_train[np.random.default_rng(seed).permutation(len(ds.x_train))[:probe]]
    mon = MechanismMonitor(net, px, py, every=ntk_every, ntk_every=ntk_every, multipliers=mult, n_classes=ds.n_classes)
    y = ds.y_train if loss == "ce" else np.eye(ds.n_classes)[ds.y_train]
    t0 = time.perf_counter()
    res = train(net, ds.x_train, y, lr=lr, steps=steps, loss=loss, multipliers=mult, batch_size=batch_size,
                seed=seed, monitor=mon, x_test=ds.x_test, y_test=ds.y_test)
    if loss == "mse" and not res.diverged:
        with torch.no_grad():
            dt = next(net.parameters()).dtype
            res.test_accuracy = float((net(torch.as_tensor(ds.x_test, dtype=dt)).argmax(-1).numpy() == ds.y_test).mean())
    regime, mech, pairs = _summarize_pairs(mon, th, res.diverged)
    h = mon.history()
    return {"scale": scale, "lr_ratio": out_mult, "seed": seed,
            "test_accuracy": res.test_accuracy if res.test_accuracy is not None else float("nan"),
            "ntk_ratio": float(h["ntk_trace"][-1] / h["ntk_trace"][0]) if len(h["ntk_trace"]) else float("nan"),
            "kernel_distance": float(h["kernel_distance"][-1]) if len(h["kernel_distance"]) else float("nan"),
            "kernel_target_alignment": float(h["kernel_target_alignment"][-1]),
            "regime": regime, "mechanism": mech, "pairs": pairs, "diverged": res.diverged,
            "final_loss": float(res.losses[np.isfinite(res.losses)][-1]) if np.isfinite(res.losses).any() else None,
            "seconds": time.perf_counter() - t0,
            "history": {"step": h["step"].tolist(), "zeta": h["zeta"].tolist(), "norms": h["norms"].tolist(),
                        "ntk_step": h["ntk_step"].tolist(), "ntk_trace": h["ntk_trace"].tolist()}}


def network_defaults(quick: bool) -> dict[str, Any]:
    """The network-run defaults: ``steps, hidden, probe, ntk_every, batch_size`` (smaller when ``quick``)."""
    return dict(steps=150 if quick else 1500, hidden=(64, 64) if quick else (256, 256), probe=32 if quick else 64,
                ntk_every=25 if quick else 50, batch_size=128)


def _network_sweep(values: Sequence[float], name: str, run_kwargs: Any, *, dataset: str, data_dir: str | None,
                   seeds: Sequence[int], arch: str, lr: float, loss: str, quick: bool, steps: int | None,
                   max_train: int | None, thresholds: Thresholds | None) -> list[dict[str, Any]]:
    """One network run per (value, seed); ``run_kwargs(value)`` gives its scale and output-lr multiplier."""
    cfg = network_defaults(quick)
    ds = load_dataset(dataset, data_dir=data_dir, seed=0, max_train=max_train)
    rows = []
    for v in values:
        check_scalar(name, v, low=0.0, low_inclusive=False)
        for sd in seeds:
            rows.append(run_network(ds, arch=arch, seed=int(sd), steps=steps or cfg["steps"], lr=lr,
                                     batch_size=cfg["batch_size"], hidden=cfg["hidden"], probe=cfg["probe"],
                                     ntk_every=cfg["ntk_every"], loss=loss, th=thresholds, **run_kwargs(float(v))))
    return rows


def init_scale_experiment(scales: Sequence[float] = (0.1, 0.3, 1.0, 3.0, 10.0), *, dataset: str = "digits",
                          data_dir: str | None = None, seeds: Sequence[int] = (0, 1, 2), arch: str = "mlp",
                          lr: float = 0.05, loss: str = "ce", quick: bool = False, steps: int | None = None,
                          max_train: int | None = None, thresholds: Thresholds | None = None) -> list[dict[str, Any]]:
    """Train the MLP (or CNN) per init scale and seed; one row per (scale, seed)."""
    return _network_sweep(scales, "scale", lambda v: {"scale": v, "out_mult": 1.0}, dataset=dataset,
                          data_dir=data_dir, seeds=seeds, arch=arch, lr=lr, loss=loss, quick=quick, steps=steps,
                          max_train=max_train, thresholds=thresholds)


def lr_ratio_experiment(ratios: Sequence[float] = (0.01, 0.1, 1.0, 10.0, 100.0), *, dataset: str = "digits",
                        data_dir: str | None = None, seeds: Sequence[int] = (0, 1, 2), arch: str = "mlp",
                        lr: float = 0.02, loss: str = "ce", scale: float = 1.0, quick: bool = False,
                        steps: int | None = None, max_train: int | None = None,
                        thresholds: Thresholds | None = None) -> list[dict[str, Any]]:
    """Train over the output-to-hidden learning-rate ratio η_out/η_hidden; one row per (ratio, seed)."""
    return _network_sweep(ratios, "ratio", lambda v: {"scale": scale, "out_mult": v}, dataset=dataset,
                          data_dir=data_dir, seeds=seeds, arch=arch, lr=lr, loss=loss, quick=quick, steps=steps,
                          max_train=max_train, thresholds=thresholds)


def network_point(config: Mapping[str, Any]) -> PointResult:
    """One ``network`` sweep point: load the data set, train one network, summarize it.

    Arguments:
        config: the full point configuration (``dataset, data_dir, arch, scale, lr_ratio, lr, steps,
            loss, max_train, quick, seed``), defaults filled in by the sweep.

    Returns:
        A :class:`~featmech.records.PointResult` whose scalars are the run's summary (test accuracy,
        NTK ratio, kernel distance, regime, mechanism, ``pair_mechanisms``...) and whose arrays are
        ``ntk_step`` and ``ntk_trace``.

    Raises:
        InputError: an unknown data set, architecture or loss, or unreadable data files.
    """
    torch.set_num_threads(1)
    d = network_defaults(bool(config["quick"]))
    ds = load_dataset(config["dataset"], data_dir=config["data_dir"], seed=0, max_train=config["max_train"])
    row = run_network(ds, arch=config["arch"], scale=config["scale"], out_mult=config["lr_ratio"],
                      seed=config["seed"], steps=config["steps"], lr=config["lr"], batch_size=d["batch_size"],
                      hidden=d["hidden"], probe=d["probe"], ntk_every=d["ntk_every"], loss=config["loss"], th=None)
    hist = row.pop("history")
    pairs = row.pop("pairs")
    res = {k: v for k, v in row.items() if k not in ("scale", "lr_ratio", "seed")}
    res["pair_mechanisms"] = ",".join(p["mechanism"] for p in pairs)
    return PointResult(scalars=res, arrays={"ntk_step": np.asarray(hist["ntk_step"]),
                                            "ntk_trace": np.asarray(hist["ntk_trace"])})


# Transitional aliases for featmech.sweeps.sweep until it calls network_point (drop after the merge).
_defaults = network_defaults
_network_run = run_network
