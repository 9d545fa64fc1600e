"""Benchmark: the paper's evidence on real data, read by ``diagnose`` (issue 10, item 5).

Run:  python benchmarks/bench_evidence.py [--out DIR] [--figures DIR]
      python benchmarks/bench_evidence.py --redraw benchmarks/results/evidence.json --figures docs/figures
      (figures and table from a saved run, without training; benchmarks/results/evidence.json is the
      run behind docs/networks.md)

Runs :func:`featmech.nets.evidence.run_evidence` on its default grid (digits/MLP, MNIST-1D/MLP,
MNIST-1D/Conv1dNet × init scale, η_out/η_hidden, width × seeds 0–2; one thread), writes the runs
and the per-point verdicts (``evidence_runs.csv``, ``evidence_verdicts.csv``, ``evidence.json``)
to ``--out``, draws the figures of :func:`featmech.report.evidence_plots.plot_evidence` into
``--figures`` and prints the verdict table as Markdown (the table of docs/networks.md,
"A second real data set"). 81 runs: 1100 s measured on one thread of a shared, loaded 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from featmech.nets.evidence import run_evidence


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="evidence-out")
    ap.add_argument("--figures", default=None, help="draw the figures into this folder (default: --out)")
    ap.add_argument("--redraw", default=None, help="a saved evidence.json: draw its figures and table, train nothing")
    args = ap.parse_args()
    if args.redraw:
        from featmech.nets.evidence import EvidenceResult
        from featmech.report.evidence_plots import evidence_markdown, plot_evidence

        data = EvidenceResult.from_dict(json.loads(Path(args.redraw).read_text())).as_dict()
        for path, caption in plot_evidence(data, Path(args.figures or args.out)):
            print(f"{path}: {caption}")
        print(evidence_markdown(data))
        return
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    res = run_evidence(progress=lambda done, total, what: print(f"[{done}/{total}] {what}", flush=True))
    seconds = time.perf_counter() - t0
    res.table().write(out / "evidence_runs.csv")
    res.verdicts().write(out / "evidence_verdicts.csv")
    (out / "evidence.json").write_text(json.dumps({**res.as_dict(), "seconds": seconds}, allow_nan=True))
    print(f"grid: {len(res.rows)} rows in {seconds:.0f} s")
    from featmech.report.evidence_plots import evidence_markdown, plot_evidence

    figs = Path(args.figures) if args.figures else out
    for path, caption in plot_evidence(res.as_dict(), figs):
        print(f"{path}: {caption}")
    print(evidence_markdown(res.as_dict()))


if __name__ == "__main__":
    main()
