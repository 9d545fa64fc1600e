"""Two-layer linear networks f(x) = κUWx on multi-dimensional data, exact at any width (docs/linear.md).

The capability in one place (re-exports only; the code lives in :mod:`featmech.theory.linear`):

- inits: :func:`sample_gram` (exact Wishart Gram matrix of an iid Gaussian init, width up to 10¹⁵),
  :func:`gram_of` (the Gram matrix of given weights), :class:`LinearGram`, :func:`reduce` (the
  exact reduction of weights to width r ≤ c+m);
- gradient flow: :func:`solve`, :func:`solve_gram` → :class:`LinearSolution` (call it at times t for
  a :class:`LinearState`);
- discrete time: :func:`simulate`, :func:`simulate_gram` → :class:`LinearSimResult` (GD, SGD,
  momentum, weight decay; :func:`draw_batches` is the minibatch sampler).

The mathematics is docs/theory.md §8.
"""

from featmech.theory.linear import (
    LinearGram,
    LinearSimResult,
    LinearSolution,
    LinearState,
    draw_batches,
    gram_of,
    reduce,
    sample_gram,
    simulate,
    simulate_gram,
    solve,
    solve_gram,
)
from featmech.analysis.linear import (
    LinearClassification,
    LinearPhase,
    Moments,
    classify,
    modes,
    moments,
    phase,
    prepare,
)

__all__ = ["LinearGram", "LinearSimResult", "LinearSolution", "LinearState", "draw_batches", "gram_of", "reduce",
           "sample_gram", "simulate", "simulate_gram", "solve", "solve_gram",
           "LinearClassification", "LinearPhase", "Moments", "classify", "modes", "moments", "phase", "prepare"]
