r"""docs/theory.md §5's canonical cases: five configurations, one for each outcome of the §5 rule.

Each :class:`CanonicalCase` is written in the parameter vocabulary (:data:`featmech.params.PARAMETERS`):
an init kind, the values of the parameters it sets (the others keep their defaults) and the
regime and mechanism docs/theory.md states for it. :func:`run_canonical` solves every case exactly,
classifies it and checks the outcome against the expectation:

>>> report = run_canonical()
>>> report.all_agree, [row.category for row in report.rows][:2]
(True, ['feature/alignment', 'kernel'])

========== ========================================= =================================
case        configuration                             expected
========== ========================================= =================================
mean-field  d = 1e5, σ = 1, η = d, κ = 1/d            feature learning by alignment
ntk-param   d = 1e5, σ = 1, η = 1, κ = d^−½           kernel
unbalanced  d = 1e5, σ_w = 1e−3 σ_u, κ = 2e−5         feature learning by rescaling
aligned     u0 = w0, |u0| = 0.3, d = 1                feature learning by rescaling
correlated  d = 1000, ρ = 0.9, κ = 1e−3, k = 0.05     feature learning by disalignment
========== ========================================= =================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np

from featmech.analysis.labels import Mechanism, Regime, category
from featmech.analysis.regimes import Classification, Thresholds, classify_solution
from featmech.errors import InputError
from featmech.params import GROUPS, PARAMETERS, check_values
from featmech.tables import Table
from featmech.theory.config import Hyper, Init
from featmech.theory.exact import Solution, solve
from featmech.theory.inits import aligned, sample_gram

__all__ = ["INIT_KINDS", "CanonicalCase", "CANONICAL_CASES", "canonical_solution", "CanonicalRow",
           "CanonicalReport", "run_canonical"]

#: the parameters each init kind reads (besides the hyperparameters of GROUPS["hyper"]):
#: ``iid`` samples the Gram statistics of an iid Gaussian init exactly; ``aligned`` builds
#: u0/√η_u = w0/√η_w = scale · v̂ for a random unit vector v̂ (Saxe's logistic curve)
INIT_KINDS: dict[str, tuple[str, ...]] = {
    "iid": ("width", "sigma_u", "sigma_w", "rho"),
    "aligned": ("width", "scale"),
}


@dataclass(frozen=True)
class CanonicalCase:
    """One canonical configuration and the outcome docs/theory.md states for it.

    Attributes:
        name: the case's name (``"mean-field"``).
        init: the init kind, a key of :data:`INIT_KINDS`.
        values: the parameter values it sets, validated with :data:`featmech.params.PARAMETERS`
            (read-only mapping; parameters it does not set take their defaults).
        regime, mechanism: the expected outcome.
        description: one line for people.

    Raises:
        InputError: an unknown init kind, a parameter the init kind does not read, or a value
            outside its range.

    >>> case = CANONICAL_CASES["correlated"]
    >>> case.init, case.value("rho"), case.value("data_var"), case.category
    ('iid', 0.9, 1.0, 'feature/disalignment')
    """

    name: str
    init: str
    values: Mapping[str, Any]
    regime: Regime
    mechanism: Mechanism
    description: str = ""

    def __post_init__(self) -> None:
        if self.init not in INIT_KINDS:
            raise InputError(f"case {self.name}: init must be one of {', '.join(INIT_KINDS)}, got {self.init!r}")
        allowed = INIT_KINDS[self.init] + GROUPS["hyper"]
        checked = check_values(dict(self.values), allowed, where=f"case {self.name}: ")
        object.__setattr__(self, "values", MappingProxyType(checked))
        object.__setattr__(self, "regime", Regime(self.regime))
        object.__setattr__(self, "mechanism", Mechanism(self.mechanism))

    def value(self, name: str) -> Any:
        """The value of one parameter the init kind or the flow reads (its default if not set).

        Raises:
            InputError: a parameter this case does not read.
        """
        if name not in INIT_KINDS[self.init] + GROUPS["hyper"]:
            raise InputError(f"case {self.name} ({self.init} init) has no parameter {name!r}")
        return self.values.get(name, PARAMETERS[name].default)

    @property
    def hyper(self) -> Hyper:
        """The hyperparameters η_u, η_w, κ, k, V."""
        return Hyper(**{n: self.value(n) for n in GROUPS["hyper"]})

    @property
    def category(self) -> str:
        """The expected outcome as one label (``"feature/alignment"``, ``"kernel"``)."""
        return category(self.regime, self.mechanism)

    def solution(self, seed: int = 0) -> Solution:
        """The exact gradient-flow solution of this case.

        Arguments:
            seed: the seed of the random init (iid Gram sample, or the direction v̂ of an aligned init).

        Returns:
            A :class:`~featmech.theory.exact.Solution` of one configuration.

        Raises:
            InputError: a bad seed.
        """
        hyper = self.hyper
        seed = PARAMETERS["seed"].check(seed)
        if self.init == "aligned":
            u0, w0 = aligned(self.value("width"), self.value("scale"), eta_u=float(hyper.eta_u),
                             eta_w=float(hyper.eta_w), seed=seed)
            return solve(Init(u0, w0), hyper)
        gram = sample_gram(self.value("width"), self.value("sigma_u"), self.value("sigma_w"), rho=self.value("rho"),
                           seed=seed)
        return solve(gram, hyper)


def _case(name: str, init: str, regime: Regime, mechanism: Mechanism, description: str,
          **values: Any) -> tuple[str, CanonicalCase]:
    return name, CanonicalCase(name, init, values, regime, mechanism, description)


#: docs/theory.md §5's canonical cases, by name.
CANONICAL_CASES: Mapping[str, CanonicalCase] = MappingProxyType(dict([
    _case("mean-field", "iid", Regime.FEATURE, Mechanism.ALIGNMENT, "mean-field: σ = 1, η = d, κ = 1/d",
          width=100_000, sigma_u=1.0, sigma_w=1.0, eta_u=1e5, eta_w=1e5, kappa=1e-5, target=1.0),
    _case("ntk-param", "iid", Regime.KERNEL, Mechanism.NONE, "NTK parametrization: σ = 1, η = 1, κ = d^-1/2",
          width=100_000, sigma_u=1.0, sigma_w=1.0, eta_u=1.0, eta_w=1.0, kappa=100_000**-0.5, target=1.0),
    _case("unbalanced", "iid", Regime.FEATURE, Mechanism.RESCALING, "unbalanced init: σ_w = 1e-3 σ_u",
          width=100_000, sigma_u=1.0, sigma_w=1e-3, eta_u=1.0, eta_w=1.0, kappa=2e-5, target=1.0),
    _case("aligned", "aligned", Regime.FEATURE, Mechanism.RESCALING, "aligned small init u0 = w0",
          width=1, scale=0.3, eta_u=1.0, eta_w=1.0, kappa=1.0, target=1.0),
    _case("correlated", "iid", Regime.FEATURE, Mechanism.DISALIGNMENT,
          "correlated init (ρ = 0.9) overshooting a small target",
          width=1000, sigma_u=1.0, sigma_w=1.0, rho=0.9, eta_u=1.0, eta_w=1.0, kappa=1e-3, target=0.05),
]))


def canonical_solution(name: str, seed: int = 0) -> Solution:
    """The exact solution of one canonical case (see :data:`CANONICAL_CASES`).

    Arguments:
        name: a key of :data:`CANONICAL_CASES`.
        seed: the seed of the random init.

    Returns:
        :meth:`CanonicalCase.solution` of that case.

    Raises:
        InputError: an unknown case name (the message lists the known ones).
    """
    if name not in CANONICAL_CASES:
        raise InputError(f"unknown canonical case {name!r}; choose from {', '.join(CANONICAL_CASES)}")
    return CANONICAL_CASES[name].solution(seed)


@dataclass(frozen=True)
class CanonicalRow:
    """The outcome of one canonical case.

    Attributes:
        case: the :class:`CanonicalCase`.
        classification: its classification (one configuration).
        rate: D, the asymptotic convergence rate of its exact solution.
        solution: the exact solution itself.
    """

    case: CanonicalCase
    classification: Classification
    rate: float
    solution: Solution = field(repr=False, compare=False)

    @property
    def name(self) -> str:
        """The case's name."""
        return self.case.name

    @property
    def category(self) -> str:
        """The outcome as one label (``"feature/alignment"``)."""
        return self.classification.category

    @property
    def agrees(self) -> bool:
        """Whether regime and mechanism are the expected ones."""
        c = self.classification
        return c.regime == self.case.regime and c.mechanism == self.case.mechanism


#: the numbers of a classification shown per case, in table order
CANONICAL_METRICS = ("ntk_max_deviation", "ntk_ratio", "alignment_start", "alignment_end", "balance_change")


@dataclass(frozen=True)
class CanonicalReport:
    """All canonical cases solved and classified (:func:`run_canonical`).

    Attributes:
        rows: one :class:`CanonicalRow` per case, in the order of :data:`CANONICAL_CASES`.
        thresholds: the thresholds used.
        seed: the seed of the random inits.
    """

    rows: tuple[CanonicalRow, ...]
    thresholds: Thresholds
    seed: int

    @property
    def all_agree(self) -> bool:
        """Whether every case comes out as docs/theory.md states."""
        return all(r.agrees for r in self.rows)

    def table(self) -> Table:
        """The report as a :class:`~featmech.tables.Table`.

        Returns:
            Columns ``case, expected, regime, mechanism, status, borderline, ntk_max_deviation,
            ntk_ratio, alignment_start, alignment_end, balance_change, rate`` (``expected`` is the
            expected category; ``status``: converged, or not converged for a flow that ends at a
            saddle; ``borderline``: the thresholds a label lies within 20 % of, empty if none);
            scalar ``all_agree``; extra entries ``thresholds`` and ``seed``.
        """
        cols: dict[str, list[Any]] = {
            "case": [r.name for r in self.rows],
            "expected": [r.case.category for r in self.rows],
            "regime": [r.classification.regime for r in self.rows],
            "mechanism": [r.classification.mechanism for r in self.rows],
            "status": [r.classification.status for r in self.rows],
            "borderline": [r.classification.borderline_threshold for r in self.rows],
        }
        for m in CANONICAL_METRICS:
            cols[m] = [float(getattr(r.classification, m)) for r in self.rows]
        cols["rate"] = [r.rate for r in self.rows]
        return Table(cols, scalars={"all_agree": self.all_agree},
                     extra={"thresholds": self.thresholds.as_dict(), "seed": self.seed})


def run_canonical(seed: int = 0, thresholds: Thresholds | None = None) -> CanonicalReport:
    """Solve every canonical case exactly and classify it.

    Arguments:
        seed: the seed of the random inits.
        thresholds: ε, δ, F (default :class:`~featmech.analysis.regimes.Thresholds`).

    Returns:
        A :class:`CanonicalReport`; ``report.all_agree`` says whether every case comes out as
        docs/theory.md states, ``report.table()`` gives the numbers.

    Raises:
        InputError: a bad seed.
    """
    th = thresholds or Thresholds()
    seed = PARAMETERS["seed"].check(seed)
    rows = []
    for case in CANONICAL_CASES.values():
        sol = case.solution(seed)
        rows.append(CanonicalRow(case=case, classification=classify_solution(sol, th), rate=float(np.asarray(sol.rate)),
                                 solution=sol))
    return CanonicalReport(rows=tuple(rows), thresholds=th, seed=seed)
