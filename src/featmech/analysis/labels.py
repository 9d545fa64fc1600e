"""The labels of the analysis: regimes of a trajectory, mechanisms of feature learning, and the
regimes of the infinite-width limit.

They are :class:`enum.StrEnum` members: they compare equal to their string value
(``Regime.KERNEL == "kernel"``), print as it, and serialize to it in JSON and CSV. ``label`` is
the wording for people.

>>> Regime.FEATURE == "feature", str(Mechanism.ALIGNMENT), Mechanism.ALIGNMENT.label
(True, 'alignment', 'learning by alignment')
"""

from __future__ import annotations

import enum

__all__ = ["Regime", "Mechanism", "LimitRegime"]


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
                "undetermined": "undetermined (did not converge)"}[self.value]


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
