"""The labels of the analysis: regimes of a trajectory, mechanisms of feature learning, and the
regimes of the infinite-width limit.

They are :class:`enum.StrEnum` members: they compare equal to their string value
(``Regime.KERNEL == "kernel"``), print as it, and serialize to it in JSON and CSV. ``label`` is
the wording for people.

>>> Regime.FEATURE == "feature", str(Mechanism.ALIGNMENT), Mechanism.ALIGNMENT.label
(True, 'alignment', 'learning by alignment')

A regime and a mechanism combine into one *category* (:func:`category`): ``"feature/<mechanism>"``
for feature learning, the regime alone otherwise. Phase diagrams colour by it, and tables and
checks of expected outcomes compare it, so it is written in exactly one place:

>>> category(Regime.FEATURE, Mechanism.DISALIGNMENT), category(Regime.KERNEL, Mechanism.NONE)
('feature/disalignment', 'kernel')
>>> CATEGORIES
('kernel', 'feature/alignment', 'feature/disalignment', 'feature/rescaling', 'unstable')

A run that did not converge, or never trained, earns no label: its regime is
:attr:`Regime.UNDETERMINED`, a category of its own, and :class:`Status` says why:

>>> category(Regime.UNDETERMINED, Mechanism.NONE), ALL_CATEGORIES[-1], Status.DID_NOT_TRAIN.label
('undetermined', 'undetermined', 'did not train (loss or accuracy at chance)')
"""

from __future__ import annotations

import enum

import numpy as np
from numpy.typing import ArrayLike, NDArray

from featmech.errors import InputError

__all__ = ["Regime", "Mechanism", "Status", "LimitRegime", "category", "categories", "CATEGORIES", "ALL_CATEGORIES"]


class Regime(enum.StrEnum):
    """The regime of one trajectory (finite width, finite or infinite time)."""

    KERNEL = "kernel"  #: the NTK stays within ε of its initial value
    FEATURE = "feature"  #: the NTK moves by more than ε
    UNSTABLE = "unstable"  #: a discrete-time run diverged
    UNDETERMINED = "undetermined"  #: the run did not converge (or never trained): no label is earned

    @property
    def label(self) -> str:
        """Words for people."""
        return {"kernel": "kernel (lazy) regime", "feature": "feature learning", "unstable": "unstable (diverged)",
                "undetermined": "undetermined (no label earned)"}[self.value]


class Status(enum.StrEnum):
    """Whether a run got where a label needs it to be (the ``status`` of a classification).

    A label describes a trajectory *from its start to convergence*: only a ``converged`` run
    earns a regime. ``not converged`` and ``did not train`` give :attr:`Regime.UNDETERMINED`;
    ``diverged`` gives :attr:`Regime.UNSTABLE`. The rules are in :mod:`featmech.analysis.regimes`.
    """

    CONVERGED = "converged"  #: the loss fell to a small fraction of its start (exact flow: finite convergence time)
    NOT_CONVERGED = "not converged"  #: it did not (too few steps, a saddle, or no dynamics)
    DID_NOT_TRAIN = "did not train"  #: a classifier whose loss or accuracy stayed at chance
    DIVERGED = "diverged"  #: the discrete-time run blew up

    @property
    def label(self) -> str:
        """Words for people."""
        return {"converged": "converged", "not converged": "not converged",
                "did not train": "did not train (loss or accuracy at chance)",
                "diverged": "diverged"}[self.value]


class Mechanism(enum.StrEnum):
    """The mechanism of feature learning (``NONE`` outside the feature-learning regime)."""

    NONE = "none"
    ALIGNMENT = "alignment"  #: the layers turn towards each other and grow together
    DISALIGNMENT = "disalignment"  #: the layers turn apart, the NTK falls
    RESCALING = "rescaling"  #: the NTK changes through the layer norms, not the angle

    @property
    def label(self) -> str:
        """Words for people."""
        return "no feature learning" if self is Mechanism.NONE else f"learning by {self.value}"


class LimitRegime(enum.StrEnum):
    """The regime of a parametrization in the infinite-width limit (exponent analysis)."""

    DIVERGENT_OUTPUT = "divergent-output"  #: the initial output grows without bound with the width
    UNSTABLE = "unstable"  #: training is instantaneous in gradient flow: GD at a fixed lr diverges
    FROZEN = "frozen"  #: the convergence rate vanishes: nothing is learned in finite time
    KERNEL = "kernel"  #: the NTK change vanishes (lazy limit)
    FEATURE = "feature"  #: an O(1) NTK change (feature learning in the limit)
    RICH = "rich"  #: the NTK grows without bound (small-init rich limit)

    @property
    def label(self) -> str:
        """Words for people."""
        return {"divergent-output": "initial output diverges with width",
                "unstable": "unstable at fixed learning rate", "frozen": "frozen (rate → 0)",
                "kernel": "kernel (lazy) limit", "feature": "feature learning in the limit",
                "rich": "rich limit (NTK grows without bound)"}[self.value]


#: the separator of a combined category, ``"feature/alignment"``
SEPARATOR = "/"


def category(regime: str, mechanism: str) -> str:
    """The combined label of a regime (:class:`Regime` or :class:`LimitRegime`) and a mechanism.

    Arguments:
        regime: a regime (an enum member or its string value).
        mechanism: a :class:`Mechanism` (or its string value).

    Returns:
        ``"feature/<mechanism>"`` in the feature-learning regime, the regime's value otherwise
        (a plain ``str``; ``"undetermined"`` for a run that earned no label).

    Raises:
        InputError: a string that is not a regime or a mechanism.

    >>> category("feature", "rescaling"), category(LimitRegime.RICH, Mechanism.ALIGNMENT)
    ('feature/rescaling', 'rich')
    """
    reg = _regime_value(regime)
    mech = _checked(Mechanism, mechanism)
    return f"{reg}{SEPARATOR}{mech}" if reg == Regime.FEATURE.value else reg


def categories(regime: ArrayLike, mechanism: ArrayLike) -> NDArray[np.str_]:
    """:func:`category` over arrays of regimes and mechanisms (broadcast together).

    Arguments:
        regime, mechanism: string arrays (as in a batch :class:`~featmech.analysis.regimes.Classification`).

    Returns:
        A string array of the broadcast shape.

    >>> categories(["kernel", "feature"], ["none", "alignment"]).tolist()
    ['kernel', 'feature/alignment']
    """
    reg = np.asarray(regime).astype(str)
    mech = np.asarray(mechanism).astype(str)
    feat = np.char.add(Regime.FEATURE.value + SEPARATOR, mech)
    return np.where(reg == Regime.FEATURE.value, feat, reg).astype(str)


def _checked(enum_cls: type[enum.StrEnum], value: str) -> str:
    try:
        return enum_cls(value).value
    except ValueError:
        allowed = ", ".join(m.value for m in enum_cls)
        raise InputError(f"{enum_cls.__name__.lower()} must be one of {allowed}, got {value!r}") from None


def _regime_value(regime: str) -> str:
    if isinstance(regime, (Regime, LimitRegime)):
        return regime.value
    values = {m.value for m in Regime} | {m.value for m in LimitRegime}
    if regime not in values:
        raise InputError(f"regime must be one of {', '.join(sorted(values))}, got {regime!r}")
    return str(regime)


#: the categories of a finite-width label that was earned, in plotting order (phase diagrams, palettes)
CATEGORIES: tuple[str, ...] = (
    Regime.KERNEL.value,
    *(category(Regime.FEATURE, m) for m in Mechanism if m is not Mechanism.NONE),
    Regime.UNSTABLE.value,
)

#: every category a finite-width classification can have: :data:`CATEGORIES` and ``"undetermined"``
#: (a run that did not converge or never trained), last
ALL_CATEGORIES: tuple[str, ...] = (*CATEGORIES, Regime.UNDETERMINED.value)
