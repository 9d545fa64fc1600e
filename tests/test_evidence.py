"""The evidence grid (featmech.nets.evidence) and its figures (featmech.report.evidence_plots).

Unit tests use tiny models (width ≤ 8, 20 steps); the full grid is the slow test at the end and
benchmarks/bench_evidence.py (its measured results are in docs/networks.md)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from featmech.data import load_dataset  # noqa: E402
from featmech.errors import InputError  # noqa: E402
from featmech.nets.diagnose import diagnose  # noqa: E402
from featmech.nets.evidence import (  # noqa: E402
    RUN_COLUMNS,
    VERDICT_COLUMNS,
    EvidenceConfig,
    EvidenceResult,
    run_evidence,
)
from featmech.nets.networks import MLP  # noqa: E402
from featmech.nets.parametrizations import Conv1dNet  # noqa: E402

torch.set_num_threads(1)  # tiny models: threads only contend on a shared machine

TINY = dict(seeds=(0,), n_train=64, n_test=32, steps=20, batch_size=32, probe=8, every=5, ntk_every=10, width=6)


@pytest.fixture(scope="module")
def tiny():
    torch.set_num_threads(1)
    cfg = EvidenceConfig(combos=(("mnist1d", "mlp"), ("digits", "conv1d")),
                         axes={"width": (4, 6), "init_scale": (0.5, 1.0), "lr_ratio": (1.0, 3.0)},
                         init_scale=0.5, **TINY)
    return run_evidence(cfg)


def test_table_shape_and_columns(tiny):
    t = tiny.table()
    assert tuple(t.columns) == RUN_COLUMNS
    assert t.n_rows == 2 * (2 + 2 + 2)  # combos × values, one seed
    df = tiny.to_pandas()
    assert set(df["dataset"]) == {"mnist1d", "digits"} and set(df["arch"]) == {"mlp", "conv1d"}
    assert set(df["axis"]) == {"width", "init_scale", "lr_ratio"}
    assert df["label"].notna().all() and np.isfinite(df["ntk_change"]).all()
    # conv1d names its pairs conv1->conv2, conv2->head; the MLP layers.0->layers.1, layers.1->layers.2
    assert set(df[df.arch == "conv1d"]["pair2"]) == {"conv2->head"}
    assert set(df[df.arch == "mlp"]["pair1"]) == {"layers.0->layers.1"}
    v = tiny.verdicts()
    assert tuple(v.columns) == VERDICT_COLUMNS and v.n_rows == 12
    assert set(v.columns["agreement"]) == {1} and set(v.columns["n_seeds"]) == {1}


def test_axis_values_reach_the_model(tiny):
    df = tiny.to_pandas()
    w = df[(df.axis == "width")]
    assert list(w["width"]) == [4, 6, 4, 6] and set(w["init_scale"]) == {0.5} and set(w["lr_ratio"]) == {1.0}
    r = df[(df.axis == "lr_ratio")]
    assert list(r["lr_ratio"]) == [1.0, 3.0, 1.0, 3.0] and set(r["width"]) == {6}
    # the base point (init 0.5, ratio 1, width 6) is one run, repeated under each axis
    base = df[(df.init_scale == 0.5) & (df.lr_ratio == 1.0) & (df.width == 6) & (df.arch == "mlp")]
    assert len(base) == 3 and base["ntk_change"].nunique() == 1 and base["seconds"].nunique() == 1


def test_verdict_matches_a_direct_diagnose_call(tiny):
    """Rebuild two runs by hand — data, model, multipliers — and call diagnose directly."""
    df = tiny.to_pandas()
    ds = load_dataset("mnist1d", seed=0, max_train=64)
    row = df[(df.arch == "mlp") & (df.axis == "lr_ratio") & (df.value == 3.0)].iloc[0]
    net = MLP(40, (6, 6), 10, init_scale=0.5, seed=0)
    d = diagnose(net, ds.x_train, ds.y_train, loss="ce", lr=0.05, steps=20, batch_size=32,
                 multipliers={"layers.2": 3.0}, seed=0, probe=8, X_test=ds.x_test[:32], Y_test=ds.y_test[:32],
                 every=5, ntk_every=10, progress=False)
    assert (row["regime"], row["mechanism"], row["status"]) == (d.verdict.regime.value, d.verdict.mechanism.value,
                                                                d.verdict.status.value)
    assert row["ntk_change"] == pytest.approx(d.verdict.ntk_change, rel=1e-9)
    assert row["max_linearization_gap"] == pytest.approx(d.verdict.max_linearization_gap, rel=1e-9)
    assert row["dzeta_pair2"] == pytest.approx(d.pairs["layers.1->layers.2"].alignment_change, abs=1e-12)
    assert row["test_accuracy"] == pytest.approx(d.scalars()["test_accuracy"])

    dg = load_dataset("digits", seed=0, max_train=64)
    row = df[(df.arch == "conv1d") & (df.axis == "width") & (df.value == 4)].iloc[0]
    cnn = Conv1dNet(64, 10, channels=4, init_scale=0.5, seed=0)
    d = diagnose(cnn, dg.x_train, dg.y_train, loss="ce", lr=0.1, steps=20, batch_size=32, multipliers={"head": 1.0},
                 seed=0, probe=8, X_test=dg.x_test[:32], Y_test=dg.y_test[:32], every=5, ntk_every=10,
                 progress=False)
    assert row["label"] in (d.verdict.category, d.verdict.status.value)
    assert row["ntk_change"] == pytest.approx(d.verdict.ntk_change, rel=1e-9)


def _rows(labels, accs):
    base = {c: math.nan for c in RUN_COLUMNS}
    return [dict(base, dataset="digits", arch="mlp", axis="width", value=8.0, seed=i, label=lab, test_accuracy=a,
                 ntk_change=float(i), max_linearization_gap=0.5, dzeta_pair1=0.1 * i, dzeta_pair2=0.0)
            for i, (lab, a) in enumerate(zip(labels, accs))]


def test_majority_and_agreement():
    cfg = EvidenceConfig(**TINY)
    for labels in (["feature/alignment", "feature/rescaling", "feature/alignment"],
                   ["feature/rescaling", "did not train", "did not train"],
                   ["kernel", "feature/rescaling"]):
        v = EvidenceResult(cfg, tuple(_rows(labels, [0.5, 0.7, 0.9][: len(labels)]))).verdicts()
        counts = Counter(labels)
        top = max(counts.values())
        assert v.columns["agreement"] == [top]
        assert counts[v.columns["verdict"][0]] == top
        assert v.columns["verdict"][0] == next(lab for lab in labels if counts[lab] == top)  # ties: first seed's
        assert v.columns["labels"] == [";".join(labels)]
        assert v.columns["test_accuracy_min"] == [0.5] and v.columns["test_accuracy_mean"][0] == pytest.approx(
            np.mean([0.5, 0.7, 0.9][: len(labels)]))
        assert v.columns["ntk_change_median"][0] == pytest.approx(np.median(range(len(labels))))


@pytest.mark.parametrize("kwargs, name", [
    (dict(axes={"depth": (1, 2)}), "axes"),
    (dict(axes={"width": (0, 4)}), "width"),
    (dict(axes={"init_scale": (-1.0,)}), "init_scale"),
    (dict(axes={"lr_ratio": ()}), "lr_ratio"),
    (dict(axes={}), "axes"),
    (dict(seeds=()), "seeds"),
    (dict(seeds=(-1,)), "seeds"),
    (dict(combos=(("imagenet", "mlp"),)), "dataset"),
    (dict(combos=(("digits", "resnet"),)), "arch"),
    (dict(lr={"mlp": 0.0}), "lr"),
    (dict(lr={"vit": 0.1}), "lr"),
    (dict(n_train=4), "n_train"),
    (dict(batch_size=5000), "batch_size"),
    (dict(probe=0), "probe"),
    (dict(steps=0), "steps"),
    (dict(width=0), "width"),
])
def test_bad_inputs_name_the_parameter(kwargs, name):
    with pytest.raises(InputError, match=name):
        EvidenceConfig(**kwargs)


def test_run_evidence_checks_its_arguments():
    with pytest.raises(InputError, match="config"):
        run_evidence({"seeds": (0,)})
    with pytest.raises(InputError, match="progress"):
        run_evidence(EvidenceConfig(**TINY), progress=3)
    # more training examples than the data set has: refused before any run (was silently capped, while the
    # reported configuration kept the n_train asked for)
    n_digits = len(load_dataset("digits", seed=0).x_train)
    calls = []
    cfg = EvidenceConfig(**{**TINY, "combos": (("mnist1d", "mlp"), ("digits", "mlp")), "n_train": n_digits + 1})
    with pytest.raises(InputError, match=f"n_train must be at most {n_digits} .*digits"):
        run_evidence(cfg, progress=lambda *a: calls.append(a))
    assert calls == []
    # a combination given twice is one combination (it counted its seeds twice: agreement 2 of n_seeds 2 for one seed)
    twice = EvidenceConfig(**{**TINY, "combos": (("digits", "mlp"), ("mnist1d", "mlp"), ("digits", "mlp"))})
    assert twice.combos == (("digits", "mlp"), ("mnist1d", "mlp"))


def test_figures_and_tables_from_the_data(tiny, tmp_path):
    pytest.importorskip("matplotlib")
    from featmech.report.evidence_plots import evidence_markdown, plot_evidence, verdict_text

    full = tiny.as_dict()
    data = dict(full, runs=[r for r in full["runs"] if r["arch"] == "conv1d"],
                verdicts=[v for v in full["verdicts"] if v["arch"] == "conv1d"])
    figs = plot_evidence(data, tmp_path)
    assert [p.name for p, _ in figs] == ["evidence_digits_conv1d.png"]
    for (png, cap), (dataset, arch) in zip(figs, [("digits", "conv1d")]):
        assert png.stat().st_size > 10_000 and png.with_suffix(".svg").exists()
        for v in data["verdicts"]:
            if (v["dataset"], v["arch"]) == (dataset, arch):
                assert verdict_text(v) in cap  # every verdict of the figure is in its caption
    md = evidence_markdown(full)
    import json

    again = EvidenceResult.from_dict(json.loads(json.dumps(full)))  # a saved evidence.json, read back
    assert again.verdicts().columns == tiny.verdicts().columns
    with pytest.raises(InputError, match="data"):
        EvidenceResult.from_dict({"runs": []})
    assert md.count("| width |") == 4 and md.count("| init scale |") == 4


def test_axes_and_width_per_arch():
    cfg = EvidenceConfig(combos=(("mnist1d", "mlp"), ("mnist1d", "conv1d")), axes={"width": {"mlp": (8, 16),
                         "conv1d": (2,)}, "lr_ratio": (1.0,)}, width={"mlp": 16, "conv1d": 2}, **{
                         k: v for k, v in TINY.items() if k != "width"})
    assert cfg.points() == [("mnist1d", "mlp", "width", 8.0), ("mnist1d", "mlp", "width", 16.0),
                            ("mnist1d", "mlp", "lr_ratio", 1.0), ("mnist1d", "conv1d", "width", 2.0),
                            ("mnist1d", "conv1d", "lr_ratio", 1.0)]
    assert cfg.setting("conv1d", "lr_ratio", 1.0) == (cfg.init_scale, 1.0, 2)
    with pytest.raises(InputError, match="axes"):
        EvidenceConfig(axes={"width": {"resnet": (8,)}})
    with pytest.raises(InputError, match="width"):
        EvidenceConfig(width={"resnet": 8})


def test_cli_prints_the_verdict_rows(capsys, tmp_path):
    import csv
    import io

    from featmech.cli.main import main

    args = ["experiment", "evidence", "--combo", "mnist1d/mlp", "--axis", "lr_ratio", "--seeds", "1", "--steps", "5",
            "--n-train", "32", "--quiet", "--format", "csv"]
    assert main(args) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [float(r["value"]) for r in rows] == [0.1, 1.0, 10.0, 100.0]
    assert set(rows[0]) == set(VERDICT_COLUMNS)
    assert main(["experiment", "evidence", "--combo", "mnist1d", "--quiet"]) == 2
    assert "DATASET/ARCH" in capsys.readouterr().err
    assert main(["experiment", "evidence", "--combo", "mnist1d/resnet", "--quiet"]) == 2
    assert "arch" in capsys.readouterr().err


@pytest.mark.slow
def test_full_grid_supports_the_documented_verdicts():
    """The default grid (81 runs, ~10 minutes on one core; benchmarks/bench_evidence.py writes the same data).

    The statements of docs/networks.md, "A second real data set": for every data set and
    architecture, rescaling at init scale 3 and alignment at the base point (init 0.5), each by
    a majority of the seeds; no run in the kernel regime.
    """
    res = run_evidence()
    v = res.verdicts().to_pandas()
    assert len(res.rows) == 3 * (4 + 4 + 3) * 3
    for (dataset, arch), g in v.groupby(["dataset", "arch"]):
        big = g[(g.axis == "init_scale") & (g.value == 3.0)].iloc[0]
        base = g[(g.axis == "init_scale") & (g.value == 0.5)].iloc[0]
        assert big.verdict == "feature/rescaling" and big.agreement >= 2, (dataset, arch)
        assert base.verdict == "feature/alignment" and base.agreement >= 2, (dataset, arch)
    assert "kernel" not in {r["label"] for r in res.rows}
