"""featmech: exact learning dynamics and the three mechanisms of feature learning.

The front door re-exports the public API of the layers below it (see docs/architecture.md):

- the model's domain objects: :class:`Hyper`, :class:`Gram`, :class:`Init`, :class:`Optimizer`,
  :class:`Record`;
- the exact gradient flow: :func:`solve`, :func:`solve_gram` -> :class:`Solution` (call it at
  times t for a :class:`State`);
- width-free discrete-time training: :func:`simulate`, :func:`simulate_gram`;
- the labels: :class:`Regime`, :class:`Mechanism`; user mistakes raise :class:`InputError`.

The core (this package without extras) needs numpy, scipy, click and matplotlib; the networks
(``featmech.nets``) need the ``torch`` extra and are not imported here.
"""

__version__ = "0.1.0"

from featmech.analysis.labels import LimitRegime, Mechanism, Regime  # noqa: E402
from featmech.errors import InputError  # noqa: E402
from featmech.theory.config import Gram, Hyper, Init  # noqa: E402
from featmech.theory.exact import Solution, State, gram_of, solve, solve_gram  # noqa: E402
from featmech.theory.optim import Optimizer, Record  # noqa: E402
from featmech.theory.simulate import SimResult, simulate, simulate_gram  # noqa: E402

__all__ = ["Gram", "Hyper", "Init", "InputError", "LimitRegime", "Mechanism", "Optimizer", "Record", "Regime",
           "SimResult", "Solution", "State", "gram_of", "simulate", "simulate_gram", "solve", "solve_gram",
           "__version__"]
