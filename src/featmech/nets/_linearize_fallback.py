"""TEMPORARY private stand-in for :mod:`featmech.nets.linearize` (written by another helper), with its contract.

f_lin(θ; x) = f(θ0; x) + J_{θ0}(x)·(θ − θ0), θ0 the model's parameters at construction.
Deleted once ``featmech.nets.linearize`` lands; :mod:`featmech.nets.diagnose` imports that first.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, jvp

__all__ = ["Linearized", "linearization_gap"]


class Linearized(nn.Module):
    """The first-order Taylor model of ``model`` around its current parameters (a deep copy)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.net = copy.deepcopy(model)
        self._theta0 = {k: v.detach().clone() for k, v in self.net.named_parameters()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        theta = dict(self.net.named_parameters())
        names = list(theta)
        primals = tuple(self._theta0[n] for n in names)
        tangents = tuple(theta[n] - self._theta0[n] for n in names)

        def f(*ps: torch.Tensor) -> torch.Tensor:
            return functional_call(self.net, dict(zip(names, ps)), (x,))

        out, jv = jvp(f, primals, tangents)
        return out.detach() + jv


def linearization_gap(f: Any, f_lin: Any, f0: Any) -> float:
    """‖f − f_lin‖_F / max(‖f − f0‖_F, ‖f_lin − f0‖_F); 0 if nothing moved."""
    a, b, c = (np.asarray(t.detach().cpu().double() if isinstance(t, torch.Tensor) else t, dtype=np.float64)
               for t in (f, f_lin, f0))
    den = max(float(np.linalg.norm(a - c)), float(np.linalg.norm(b - c)))
    return 0.0 if den == 0.0 else float(np.linalg.norm(a - b)) / den
