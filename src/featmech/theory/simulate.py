r"""Discrete-time training of the linear network, exact at any width (docs/theory.md §3).

Every update is a linear combination of u and w (and of the momentum buffers, which are
themselves such combinations), so the whole trajectory stays in span{u0, w0}. Writing the
vectors in an orthonormal basis of that plane, ``u0 = (|u0|, 0)``,
``w0 = (u0·w0/|u0|, |u0∧w0|/|u0|)``, makes each step O(1) whatever the width: the simulator
needs only the :class:`~featmech.theory.config.Gram` statistics of the init.

Update rule (one step, both layers simultaneously; PyTorch's SGD conventions, see
:class:`~featmech.theory.optim.Optimizer`):

.. math::
    g_u = V_t\kappa (\kappa p - k_t)\, w + \mathrm{wd}\,u,\quad
    m_u \leftarrow \mu\, m_u + g_u,\quad u \leftarrow u - \mathrm{lr}\,\eta_u\, m_u

and the same for w with :math:`\eta_w` (p = u·w). Full-batch GD has :math:`V_t = V`,
:math:`k_t = k`; minibatch SGD draws the batch moments :math:`V_t = \frac1n\sum x_b^2`,
:math:`k_t = \frac{1}{nV_t}\sum x_b y_b` exactly (:func:`batch_moments`).
Recorded observables use the population loss :math:`\tfrac12 V(\kappa p - k)^2` and the NTK
:math:`V\kappa^2(\eta_w|u|^2+\eta_u|w|^2)`.

Divergence: a configuration has diverged at the first step where its residual is not finite or
exceeds ``divergence_factor × max(|r0|, |k|)``; its records from there on are NaN and
``diverged_at`` holds that step.

The entry point takes the domain objects; the keyword form is a thin convenience:

>>> from featmech.theory.config import Gram, Hyper
>>> from featmech.theory.optim import Optimizer, Record
>>> res = simulate(Gram(0.01, 0.01, 0.0), Hyper(), Optimizer(lr=0.1), 2000, Record(every=1000))
>>> res.step.tolist(), [round(float(x), 6) for x in res.output]
([0, 1000, 2000], [0.0, 1.0, 1.0])
>>> res = simulate([0.3, 0.1], [0.2, 0.4], lr=0.1, steps=500, every=500)
>>> round(float(res.output[-1]), 9), bool(res.diverged)
(1.0, False)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Iterator, TypeVar, cast, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from featmech._validation import check_array, check_int
from featmech.errors import InputError
from featmech.params import PARAMETERS
from featmech.theory.config import (
    Gram,
    Hyper,
    Init,
    check_vectors,
    object_or_keywords,
    readonly,
)
from featmech.theory.exact import gram_of
from featmech.theory.optim import Optimizer, Record

__all__ = ["SimResult", "RunDefaults", "simulate", "simulate_gram", "simulate_full", "batch_moments",
           "run_defaults"]

F = NDArray[np.float64]
T = TypeVar("T")

#: the recorded observables, in the order of :class:`SimResult`'s fields
OBSERVABLES = ("output", "loss", "ntk", "alignment", "norm_u", "norm_w")


# ---------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class SimResult:
    """Recorded trajectory of a discrete-time run (read-only arrays).

    Attributes:
        step: the recorded step numbers, shape ``(n_records,)``.
        output: κ u·w (the network's slope);  loss: the population loss ½V(κ u·w − k)²;
        ntk: Vκ²(η_w|u|² + η_u|w|²);  alignment: ζ = u·w/(|u||w|) (0 where a layer is zero);
        norm_u, norm_w: |u| and |w|. Each has shape ``batch_shape + (n_records,)``; records at
            and after a configuration's divergence step are NaN.
        diverged: bool, of the batch shape;  diverged_at: the divergence step (int), -1 where
            the run did not diverge.
    """

    step: NDArray[np.int64]
    output: F
    loss: F
    ntk: F
    alignment: F
    norm_u: F
    norm_w: F
    diverged: NDArray[np.bool_]
    diverged_at: NDArray[np.int64]

    def __post_init__(self) -> None:
        for f in fields(self):
            dtype = {"step": np.int64, "diverged": np.bool_, "diverged_at": np.int64}.get(f.name, np.float64)
            object.__setattr__(self, f.name, readonly(getattr(self, f.name), dtype))

    @property
    def shape(self) -> tuple[int, ...]:
        """The batch shape (``()`` for one configuration)."""
        return self.diverged.shape

    def as_dict(self) -> dict[str, Any]:
        """The fields by name (read-only arrays)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def truncated(self) -> dict[str, Any]:
        """For a single configuration: records before divergence only, JSON-ready.

        Returns:
            ``{"step": [...], "output": [...], ..., "diverged": bool, "diverged_at": int | None}``
            with plain Python lists and numbers.

        Raises:
            InputError: the result holds a batch of configurations.
        """
        if np.ndim(self.diverged) != 0:
            raise InputError("truncated() is for a single configuration")
        n = self.step.size
        if bool(self.diverged):
            n = int(np.searchsorted(self.step, int(self.diverged_at)))
        out: dict[str, Any] = {"step": self.step[:n].tolist()}
        for name in OBSERVABLES:
            out[name] = np.asarray(getattr(self, name))[:n].tolist()
        out["diverged"] = bool(self.diverged)
        out["diverged_at"] = int(self.diverged_at) if bool(self.diverged) else None
        return out


@dataclass(frozen=True)
class RunDefaults:
    """The defaults the command line and sweeps fill in for one run.

    Attributes:
        ntk0: the initial NTK K0 = Vκ²(η_w|u0|² + η_u|w0|²).
        lr: the step size: the one given, else 0.5/K0 (a quarter of the edge of stability 2/K0).
        every: the recording interval: the one given, else ``max(1, steps // 100)``.

    Unpacks as the tuple ``(ntk0, lr, every)``.
    """

    ntk0: float
    lr: float
    every: int

    def __iter__(self) -> Iterator[Any]:
        """``ntk0, lr, every = run_defaults(...)``."""
        return iter((self.ntk0, self.lr, self.every))

    @property
    def lr_times_ntk0(self) -> float:
        """lr·K0: below 2 GD is stable at the start (the edge of stability)."""
        return self.lr * self.ntk0

    @property
    def record(self) -> Record:
        """The :class:`~featmech.theory.optim.Record` of this interval."""
        return Record(self.every)


# ---------------------------------------------------------------------------------------- defaults
def run_defaults(gram: Gram | Init, hyper: Hyper | None = None, steps: int | None = None, lr: float | None = None,
                 every: int | None = None, *, eta_u: float | None = None, eta_w: float | None = None,
                 kappa: float | None = None, data_var: float | None = None) -> RunDefaults:
    """The step size and recording interval of one run, filling the defaults the CLI and sweeps share.

    Two call forms:

    - ``run_defaults(gram, hyper, steps, lr=None, every=None)`` with a
      :class:`~featmech.theory.config.Hyper`;
    - ``run_defaults(gram, steps=..., lr=None, every=None, eta_u=1, eta_w=1, kappa=1, data_var=1)``
      (the keyword form: the hyperparameters as numbers).

    K0 = Vκ²(η_w|u0|² + η_u|w0|²); the default lr is 0.5/K0 (a quarter of the edge of stability
    2/K0) and the default recording interval ``max(1, steps // 100)``.

    Arguments:
        gram: the init of one configuration (a :class:`Gram` or an :class:`Init`).
        hyper: its hyperparameters (one configuration).
        steps: the number of steps of the run.
        lr: the step size, or ``None`` for the default.
        every: the recording interval, or ``None`` for the default.

    Returns:
        A :class:`RunDefaults` ``(ntk0, lr, every)`` (it unpacks like the tuple).

    Raises:
        InputError: a value out of range, ``hyper`` mixed with the keywords, a batch instead of one
            configuration, or ``lr=None`` with K0 = 0.

    >>> d = run_defaults(Gram(1.0, 1.0, 0.0), Hyper(), 1000)
    >>> d.ntk0, d.lr, d.every
    (2.0, 0.25, 10)
    >>> K0, lr, every = run_defaults(Gram(1.0, 1.0, 0.0), steps=1000, kappa=2.0)
    >>> K0, lr, every
    (8.0, 0.0625, 10)
    """
    keywords = {k: v for k, v in (("eta_u", eta_u), ("eta_w", eta_w), ("kappa", kappa), ("data_var", data_var))
                if v is not None}
    hyper = object_or_keywords(Hyper, hyper, _own_arrays(keywords), name="hyper")
    g = _as_gram(gram, "gram")
    if g.shape != () or hyper.shape != ():
        raise InputError("run_defaults is for one configuration (scalar Gram statistics and hyperparameters)")
    steps_i = PARAMETERS["steps"].check(steps)
    lr = PARAMETERS["lr"].check(lr)
    every = Record(every).interval(steps_i)
    K0 = float(hyper.data_var * hyper.kappa * hyper.kappa * (hyper.eta_w * g.uu + hyper.eta_u * g.ww))
    if lr is None:
        if not (K0 > 0 and math.isfinite(K0)):
            raise InputError("lr: cannot pick a default learning rate when the initial NTK is 0; give lr")
        lr = 0.5 / K0
    return RunDefaults(ntk0=K0, lr=float(lr), every=int(every))


# ---------------------------------------------------------------------------------------- SGD moments
def batch_moments(steps: int, batch_size: int, *, data_var: ArrayLike = 1.0, target: ArrayLike = 1.0,
                  noise: ArrayLike = 0.0, seed: int = 0, shape: tuple[int, ...] = ()) -> tuple[F, F]:
    r"""Exact minibatch moments for ``steps`` steps of SGD with batches of ``batch_size``.

    Data model: x ~ N(0, V), y = k x + ε, ε ~ N(0, noise²). For a batch of n samples

    .. math::
        V_t = \frac1n \sum_b x_b^2 \sim V\chi^2_n/n,\qquad
        k_t = \frac{\sum_b x_b y_b}{\sum_b x_b^2} = k + \frac{\mathrm{noise}\; z}{\sqrt{\sum_b x_b^2}},\ z \sim N(0, 1),

    since Σ x_b ε_b | x ~ N(0, noise² Σ x_b²): the same distribution as drawing the samples, in O(1).

    Arguments:
        steps: the number of steps (``>= 1``).
        batch_size: n, the samples per batch (``>= 1``).
        data_var, target, noise: V > 0, k and the label-noise std (``>= 0``), broadcast to ``shape``.
        seed: the random seed.
        shape: the batch shape of configurations (each draws its own sequence).

    Returns:
        ``(V_t, k_t)``, two arrays of shape ``shape + (steps,)``.

    Raises:
        InputError: a value out of range.

    >>> Vt, kt = batch_moments(5, 4, noise=0.0, seed=0)
    >>> Vt.shape, bool(np.all(kt == 1.0))
    ((5,), True)
    """
    steps = PARAMETERS["steps"].check(steps)
    n = PARAMETERS["batch_size"].check(batch_size)
    if n is None:
        raise InputError("batch_size must be given (an integer >= 1)")
    V = check_array("data_var", data_var, low=0.0, low_inclusive=False)
    k = check_array("target", target)
    sig = check_array("noise", noise, low=0.0)
    seed = PARAMETERS["seed"].check(seed)
    shape = tuple(check_int(f"shape[{i}]", s, low=0) for i, s in enumerate(shape))
    return _draw_moments(steps, n, V, k, sig, seed, shape)


def _draw_moments(steps: int, n: int, V: F, k: F, noise: F, seed: int, shape: tuple[int, ...]) -> tuple[F, F]:
    """batch_moments without the checks: arrays of shape ``shape + (steps,)``."""
    rng = np.random.default_rng(seed)
    full = shape + (steps,)
    chi = rng.chisquare(n, size=full)
    z = rng.standard_normal(size=full)
    Vb = np.expand_dims(V, -1) if V.ndim else V
    kb = np.expand_dims(k, -1) if k.ndim else k
    sb = np.expand_dims(noise, -1) if noise.ndim else noise
    sumx2 = Vb * chi
    Vt = sumx2 / n
    with np.errstate(divide="ignore", invalid="ignore"):
        kt = kb + np.where(sumx2 > 0, sb * z / np.sqrt(sumx2), 0.0)
    return np.broadcast_to(Vt, full).copy(), np.broadcast_to(kt, full).copy()


# ---------------------------------------------------------------------------------------- arguments
#: the keywords of each domain object: its fields
_KEYWORDS = {name: tuple(f.name for f in fields(cls)) for name, cls in (("hyper", Hyper), ("optimizer", Optimizer),
                                                                        ("record", Record))}
_SLOTS = ("hyper", "optimizer", "steps", "record")


def _own_arrays(values: dict[str, Any]) -> dict[str, Any]:
    """Copy the caller's numpy arrays, so that freezing them inside a domain object leaves theirs writable."""
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in values.items()}


def _as_gram(init: Any, name: str = "init") -> Gram:
    if isinstance(init, Gram):
        return init
    if isinstance(init, Init):
        return init.gram
    raise InputError(f"{name} must be a Gram or an Init, got {type(init).__name__}")


def _objects(where: str, rest: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Hyper, Optimizer, int, Record]:
    """Resolve (hyper, optimizer, steps, record) from objects or their keywords, never from both.

    ``rest`` are the positional arguments after the init, in the order of ``_SLOTS``.
    """
    if len(rest) > len(_SLOTS):
        raise TypeError(f"{where}() takes at most {len(_SLOTS)} positional arguments after the init")
    kw = dict(kwargs)
    for name, value in zip(_SLOTS, rest):
        if name in kw:
            raise TypeError(f"{where}() got multiple values for argument {name!r}")
        kw[name] = value
    given = {name: kw.pop(name) for name in _SLOTS if name in kw}
    groups = {name: {k: kw.pop(k) for k in keys if k in kw}
              for name, keys in _KEYWORDS.items()}
    if kw:
        raise TypeError(f"{where}() got an unexpected keyword argument {next(iter(kw))!r}")

    if given.get("optimizer") is None and "lr" not in groups["optimizer"]:
        raise InputError(f"{where}: give optimizer=Optimizer(lr=...) or the step size lr=...")
    def one(name: str, cls: type[T]) -> T:
        return object_or_keywords(cls, given.get(name), _own_arrays(groups[name]), name=name, where=f"{where}: ")

    hyper, optimizer, record = one("hyper", Hyper), one("optimizer", Optimizer), one("record", Record)
    if "steps" not in given:
        raise InputError(f"{where}: steps must be given (the number of training steps)")
    steps = PARAMETERS["steps"].check(given["steps"])
    return hyper, optimizer, steps, record


def _split_init(where: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Init | Gram | tuple[Any, Any],
                                                                                       tuple[Any, ...]]:
    """The init (an Init, a Gram, or the raw vectors (u0, w0)) and the remaining positional arguments."""
    if "init" in kwargs:
        if args or "u0" in kwargs or "w0" in kwargs:
            raise InputError(f"{where}: give the init once (init=... or the vectors u0, w0)")
        init = kwargs.pop("init")
        if not isinstance(init, (Init, Gram)):
            raise InputError(f"{where}: init must be an Init or a Gram, got {type(init).__name__}")
        return init, ()
    if args and isinstance(args[0], (Init, Gram)):
        if "u0" in kwargs or "w0" in kwargs:
            raise InputError(f"{where}: give the init once (an {type(args[0]).__name__} or the vectors u0, w0)")
        return args[0], args[1:]
    vec = list(args[:2])
    for name in ("u0", "w0")[len(vec):]:
        if name not in kwargs:
            raise InputError(f"{where} needs an init: an Init, a Gram, or the two weight vectors u0, w0")
        vec.append(kwargs.pop(name))
    for name in ("u0", "w0")[: len(args[:2])]:
        if name in kwargs:
            raise TypeError(f"{where}() got multiple values for argument {name!r}")
    return (vec[0], vec[1]), args[2:]


# ---------------------------------------------------------------------------------------- width-free
@overload
def simulate(init: Init | Gram, hyper: Hyper, optimizer: Optimizer, steps: int,
             record: Record = ...) -> SimResult: ...


@overload
def simulate(u0: ArrayLike, w0: ArrayLike, *, lr: ArrayLike, steps: int, eta_u: ArrayLike = ...,
             eta_w: ArrayLike = ..., kappa: ArrayLike = ..., target: ArrayLike = ..., data_var: ArrayLike = ...,
             momentum: ArrayLike = ..., weight_decay: ArrayLike = ..., batch_size: int | None = ...,
             noise: ArrayLike = ..., seed: int = ..., every: int | None = ...,
             moments: tuple[ArrayLike, ArrayLike] | None = ..., divergence_factor: float = ...) -> SimResult: ...


def simulate(*args: Any, **kwargs: Any) -> SimResult:
    r"""Width-free discrete-time training (GD, minibatch SGD, momentum, weight decay), batched.

    ``simulate(init, hyper, optimizer, steps, record=Record())`` runs the update rule of
    :class:`~featmech.theory.optim.Optimizer`,

    .. math::
        g_u = V_t\kappa(\kappa\, u\cdot w - k_t)\,w + \mathrm{wd}\,u,\quad
        m_u \leftarrow \mu m_u + g_u,\quad u \leftarrow u - \mathrm{lr}\,\eta_u m_u
        \quad(\text{and } u \leftrightarrow w,\ \eta_u \to \eta_w),

    exactly (to rounding) as on the full width-d vectors but at O(1) per step, in the plane of
    u0 and w0. The init's Gram statistics, the hyperparameters and the optimizer's arrays
    broadcast to one batch shape, and every configuration runs at once.

    Convenience form (a thin wrapper that builds the objects)::

        simulate(u0, w0, *, lr, steps, eta_u=1, eta_w=1, kappa=1, target=1, data_var=1,
                 momentum=0, weight_decay=0, batch_size=None, noise=0, seed=0, every=1,
                 moments=None, divergence_factor=1e8)

    Each group comes from one place: an object (``hyper=``, ``optimizer=``, ``record=``, or
    positionally after the init) or its keywords, so ``simulate(init, hyper, lr=0.1, steps=100)``
    works and ``simulate(init, hyper, optimizer, 100, lr=0.1)`` is refused.

    Arguments:
        init: an :class:`~featmech.theory.config.Init` (vectors), a
            :class:`~featmech.theory.config.Gram` (its statistics, any width), or the vectors
            ``u0, w0`` as the first two positional arguments.
        hyper: the :class:`~featmech.theory.config.Hyper` (η_u, η_w, κ, k, V).
        optimizer: the :class:`~featmech.theory.optim.Optimizer` (lr, momentum, weight decay,
            minibatches, divergence factor).
        steps: the number of steps (``>= 1``).
        record: the :class:`~featmech.theory.optim.Record` (default: every step; the keyword
            ``every=None`` records every ``steps // 100``).

    Returns:
        A :class:`SimResult` with observables of shape ``batch_shape + (n_records,)``.

    Raises:
        InputError: a value out of range, an object mixed with its keywords, shapes that do not
            broadcast, or ``moments`` whose last axis is not ``steps``.
    """
    init, rest = _split_init("simulate", args, kwargs)
    gram = _as_gram(init) if not isinstance(init, tuple) else gram_of(*init)
    hyper, optimizer, steps, record = _objects("simulate", rest, kwargs)
    return _simulate_plane(gram, hyper, optimizer, steps, record)


def simulate_gram(*args: Any, **kwargs: Any) -> SimResult:
    """Width-free training from Gram statistics given as numbers (see :func:`simulate`).

    ``simulate_gram(uu, ww, uw, *, area=None, lr, steps, eta_u=1, ..., every=1)``: the keyword
    form of ``simulate(Gram(uu, ww, uw, area), ...)``; a :class:`Gram` may also be given as the
    first argument. All parameters broadcast to one batch shape. ``batch_size=None`` is
    full-batch GD; otherwise SGD with exact batch moments drawn from ``seed`` (or given as
    ``moments``, a pair of arrays of shape ``batch_shape + (steps,)`` or ``(steps,)``).

    Arguments:
        uu, ww, uw: |u0|², |w0|², u0·w0 (arrays broadcast together).
        area: |u0∧w0| (computed when not given; give it for nearly collinear inits).
        the rest: as in :func:`simulate`.

    Returns:
        A :class:`SimResult`.

    Raises:
        InputError: an impossible Gram matrix, or as :func:`simulate`.
    """
    if args and isinstance(args[0], (Gram, Init)) or isinstance(kwargs.get("init"), (Gram, Init)):
        if "area" in kwargs:
            raise InputError("simulate_gram: area is part of the init given")
        return simulate(*args, **kwargs)
    stats = list(args[:3])
    for name in ("uu", "ww", "uw")[len(stats):]:
        if name not in kwargs:
            raise InputError("simulate_gram needs the Gram statistics uu, ww, uw (or a Gram)")
        stats.append(kwargs.pop(name))
    gram = Gram(**_own_arrays(dict(zip(("uu", "ww", "uw"), stats))), area=kwargs.pop("area", None))
    hyper, optimizer, steps, record = _objects("simulate_gram", tuple(args[3:]), kwargs)
    return _simulate_plane(gram, hyper, optimizer, steps, record)


def _simulate_plane(gram: Gram, hyper: Hyper, opt: Optimizer, steps: int, record: Record) -> SimResult:
    """The width-free engine: all inputs validated (by the objects), ``steps`` an int >= 1."""
    try:
        arrays = np.broadcast_arrays(gram.uu, gram.ww, gram.uw, cast(F, gram.area), hyper.eta_u, hyper.eta_w,
                                     hyper.kappa, hyper.target, hyper.data_var, opt.lr, opt.momentum,
                                     opt.weight_decay, opt.noise)
    except ValueError:
        raise InputError(f"the init (shape {gram.shape}), hyperparameters (shape {hyper.shape}) and optimizer "
                         f"(shape {opt.shape}) do not broadcast to one batch shape") from None
    shape = arrays[0].shape
    n = math.prod(shape)
    uu, ww, uw, area, eu, ew, kap, k, V, lr, mom, wd, noise = (np.array(a, dtype=np.float64).reshape(n)
                                                               for a in arrays)

    # --- the per-step batch moments (SGD): kVt = κ V_t and k_t, laid out (steps, n)
    kVt = kt = None
    if opt.moments is not None:
        full = shape + (steps,)
        try:
            Vt_in = np.broadcast_to(opt.moments[0], full).reshape(n, steps)
            kt_in = np.broadcast_to(opt.moments[1], full).reshape(n, steps)
        except ValueError:
            raise InputError(f"moments must have shape (steps,) = ({steps},) or batch_shape + (steps,) = {full}, "
                             f"got {opt.moments[0].shape} and {opt.moments[1].shape}") from None
    elif opt.batch_size is not None:
        Vt_in, kt_in = _draw_moments(steps, opt.batch_size, np.where(V > 0, V, 1.0), k, noise, opt.seed, (n,))
        Vt_in *= (V > 0)[:, None]
    if opt.stochastic:
        kVt = np.empty((steps, n))
        np.multiply(Vt_in.T, kap, out=kVt)
        kt = np.ascontiguousarray(kt_in.T)
        del Vt_in, kt_in

    # --- the plane: u0 = (|u0|, 0), w0 = (u0·w0/|u0|, |u0∧w0|/|u0|), stacked as theta = (u, w)
    nu = np.sqrt(uu)
    has_u = nu > 0
    safe = np.where(has_u, nu, 1.0)
    theta = np.zeros((2, 2, n))  # (layer, plane coordinate, configuration)
    u, w = theta[0], theta[1]  # views: updating theta updates them
    u[0] = nu
    w[0] = np.where(has_u, uw / safe, np.sqrt(ww))
    w[1] = np.where(has_u, area / safe, 0.0)
    other = theta[::-1]  # (w, u): the gradient of u is along w and vice versa

    rec = record.steps(steps)
    nrec = rec.size
    buf = np.full((len(OBSERVABLES), nrec, n), np.nan)
    diverged = np.zeros(n, dtype=bool)
    diverged_at = np.full(n, -1, dtype=np.int64)
    p = u[0] * w[0] + u[1] * w[1]
    r = kap * p - k
    rmax = opt.divergence_factor * np.maximum(np.maximum(np.abs(r), np.abs(k)), np.finfo(float).tiny)
    Vkk = V * kap * kap

    def observe(j: int) -> None:
        u2 = u[0] * u[0] + u[1] * u[1]
        w2 = w[0] * w[0] + w[1] * w[1]
        row = buf[:, j]
        row[0] = kap * p
        row[1] = 0.5 * V * r * r
        row[2] = Vkk * (ew * u2 + eu * w2)
        n_u, n_w = np.sqrt(u2), np.sqrt(w2)
        den = n_u * n_w
        row[3] = np.where(den > 0, p / np.where(den > 0, den, 1.0), 0.0)
        row[4] = n_u
        row[5] = n_w
        if diverged.any():
            row[:, diverged] = np.nan

    rate = np.stack([lr * eu, lr * ew])[:, None, :]  # lr η per layer, shape (2, 1, n)
    Vk = V * kap
    gain = rate * Vk  # full batch: lr η V κ (κp − k) = gain · r
    wd3 = wd[None, None, :]
    mom3 = mom[None, None, :]
    use_mom = bool(np.any(mom > 0))
    use_wd = bool(np.any(wd > 0))
    plain = not (use_mom or use_wd)
    m = np.zeros_like(theta)  # the momentum buffers (m_u, m_w)
    g = np.empty_like(theta)
    coef = np.empty((2, 1, n))
    absr = np.empty(n)
    ok = np.empty(n, dtype=bool)

    j = 0
    if rec[0] == 0:
        observe(0)
        j = 1
    next_rec = int(rec[j]) if j < nrec else -1
    with np.errstate(all="ignore"):
        for step in range(1, steps + 1):
            if plain:  # (u, w) ← (u, w) − lr (η_u, η_w) c (w, u)
                if kVt is None:
                    np.multiply(gain, r, out=coef)
                else:
                    np.multiply(rate, kVt[step - 1] * (kap * p - kt[step - 1]), out=coef)  # type: ignore[index]
                np.multiply(coef, other, out=g)
            else:  # g = c (w, u) + wd (u, w);  m ← μ m + g;  step lr η m
                c = Vk * r if kVt is None else kVt[step - 1] * (kap * p - kt[step - 1])  # type: ignore[index]
                np.multiply(c, other, out=g)
                if use_wd:
                    g += wd3 * theta
                if use_mom:
                    m *= mom3
                    m += g
                    np.multiply(rate, m, out=g)
                else:
                    g *= rate
            theta -= g
            np.multiply(u[0], w[0], out=p)
            p += u[1] * w[1]
            np.multiply(kap, p, out=r)
            r -= k
            np.abs(r, out=absr)
            np.less_equal(absr, rmax, out=ok)
            if not ok.all():  # residual too large or not finite: diverged at this step
                bad = ~ok
                new = bad & ~diverged
                diverged_at[new] = step
                diverged |= new
                theta[..., bad] = 0.0
                m[..., bad] = 0.0
                p[bad] = 0.0
                r[bad] = -k[bad]
            if step == next_rec:
                observe(j)
                j += 1
                next_rec = int(rec[j]) if j < nrec else -1

    def shaped(i: int) -> F:
        out = np.empty(shape + (nrec,))
        out.reshape(n, nrec)[...] = buf[i].T
        return out

    return SimResult(step=rec, **{name: shaped(i) for i, name in enumerate(OBSERVABLES)},
                     diverged=diverged.reshape(shape), diverged_at=diverged_at.reshape(shape))


# ---------------------------------------------------------------------------------------- reference
def simulate_full(*args: Any, **kwargs: Any) -> SimResult:
    """Reference simulator: the plain update loop on the full width-d vectors, O(d) per step.

    It shares no numerical code with the width-free simulator and exists to test it (and to
    measure it). Same call forms as :func:`simulate` — ``simulate_full(init, hyper, optimizer,
    steps, record)`` or ``simulate_full(u0, w0, *, lr, steps, ...)`` — for one configuration and
    an init given as vectors. Minibatch SGD replays ``moments`` (shape ``(steps,)``) or draws them
    with :func:`batch_moments` from ``batch_size``, ``noise`` and ``seed``.

    Arguments:
        init: an :class:`~featmech.theory.config.Init` or the vectors ``u0, w0``.
        hyper, optimizer, steps, record: as in :func:`simulate`, all scalar.

    Returns:
        A :class:`SimResult` for one configuration.

    Raises:
        InputError: a :class:`Gram` init (no vectors), a batch of configurations, or as
            :func:`simulate`.
    """
    init, rest = _split_init("simulate_full", args, kwargs)
    if isinstance(init, Gram):
        raise InputError("simulate_full runs the update on the weight vectors: give an Init or u0, w0, not a Gram")
    u, w = (np.array(v) for v in init) if isinstance(init, Init) else (v.copy() for v in check_vectors(*init))
    hyper, opt, steps, record = _objects("simulate_full", rest, kwargs)
    if hyper.shape != () or opt.shape != ():
        raise InputError("simulate_full runs one configuration: scalar hyperparameters and optimizer")
    eu, ew, kap, k, V = (float(x) for x in (hyper.eta_u, hyper.eta_w, hyper.kappa, hyper.target, hyper.data_var))
    lr, mom, wd = float(opt.lr), float(opt.momentum), float(opt.weight_decay)
    moments = opt.moments
    if opt.batch_size is not None:
        moments = batch_moments(steps, opt.batch_size, data_var=V, target=k, noise=float(opt.noise), seed=opt.seed)
    if moments is not None and (moments[0].shape != (steps,) or moments[1].shape != (steps,)):
        raise InputError(f"moments must have shape (steps,) = ({steps},), got {moments[0].shape}")
    bu = np.zeros_like(u)
    bw = np.zeros_like(w)
    rec = record.steps(steps)
    rows: list[list[float]] = []
    r0 = kap * float(u @ w) - k
    rmax = opt.divergence_factor * max(abs(r0), abs(k), np.finfo(float).tiny)
    diverged_at = -1

    def obs() -> list[float]:
        p = float(u @ w)
        nu, nw = float(np.linalg.norm(u)), float(np.linalg.norm(w))
        zeta = p / (nu * nw) if nu > 0 and nw > 0 else 0.0
        return [kap * p, 0.5 * V * (kap * p - k) ** 2, V * kap * kap * (ew * nu * nu + eu * nw * nw), zeta, nu, nw]

    ri = 0
    if rec[0] == 0:
        rows.append(obs())
        ri = 1
    with np.errstate(all="ignore"):
        for step in range(1, steps + 1):
            if moments is not None:
                Vs, ks = float(moments[0][step - 1]), float(moments[1][step - 1])
            else:
                Vs, ks = V, k
            r = kap * float(u @ w) - ks
            gu = Vs * kap * r * w + wd * u
            gw = Vs * kap * r * u + wd * w
            bu = mom * bu + gu
            bw = mom * bw + gw
            u = u - lr * eu * bu
            w = w - lr * ew * bw
            rn = kap * float(u @ w) - k
            if not abs(rn) <= rmax:
                diverged_at = step
                break
            if ri < rec.size and rec[ri] == step:
                rows.append(obs())
                ri += 1
    data = np.full((rec.size, len(OBSERVABLES)), np.nan)
    if rows:
        data[: len(rows)] = np.array(rows)
    return SimResult(step=rec, **{name: np.ascontiguousarray(data[:, i]) for i, name in enumerate(OBSERVABLES)},
                     diverged=np.array(diverged_at >= 0), diverged_at=np.array(diverged_at, dtype=np.int64))
