r"""The observables of the network at given times (:class:`State`)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from featmech.theory.config import F, readonly

__all__ = ["State"]


@dataclass(frozen=True)
class State:
    r"""Observables of the network at times ``t`` (read-only arrays of shape ``batch_shape + t.shape``).

    .. math::
        f = \kappa p,\ p = u\cdot w;\quad r = \kappa p - k;\quad L = \tfrac12 V r^2;\quad
        K = V\kappa^2(\eta_w|u|^2 + \eta_u|w|^2);\quad \zeta = \frac{u\cdot w}{|u||w|};\quad
        C = \eta_w|u|^2 - \eta_u|w|^2.

    Attributes:
        t: the times.
        output: κ p, the slope of the network function (f(x) = output · x).
        residual: r = κ p − k.
        loss: ½ V r².
        ntk: K, the (scalar) neural tangent kernel.
        alignment: ζ (0 where a vector is zero).
        norm_u: |u|.
        norm_w: |w|.
        conserved: η_w|u|² − η_u|w|² (constant in time).

    Constructing a State copies writable arrays into read-only ones (the library's own
    evaluations hand over fresh arrays without a copy).
    """

    t: F
    output: F
    residual: F
    loss: F
    ntk: F
    alignment: F
    norm_u: F
    norm_w: F
    conserved: F

    def __post_init__(self) -> None:
        for name in _FIELDS:
            object.__setattr__(self, name, readonly(getattr(self, name)))

    @classmethod
    def trusted(cls, **arrays: F) -> "State":
        """Build from read-only arrays the caller owns (every field by name): no copies, no checks."""
        obj = object.__new__(cls)
        obj.__dict__.update({name: arrays[name] for name in _FIELDS})
        return obj

    def as_dict(self) -> dict[str, F]:
        """The fields as a plain dict of (read-only) arrays."""
        return {name: getattr(self, name) for name in _FIELDS}


_FIELDS = tuple(f.name for f in fields(State))
