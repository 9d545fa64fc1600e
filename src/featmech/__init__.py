"""featmech: exact learning dynamics and the three mechanisms of feature learning.

The core (this package without extras) needs only numpy, scipy, click and matplotlib.
"""

__version__ = "0.1.0"

from featmech.theory.exact import (  # noqa: E402
    Gram,
    Hyper,
    Solution,
    State,
    gram_of,
    solve,
    solve_gram,
)

__all__ = ["Gram", "Hyper", "Solution", "State", "gram_of", "solve", "solve_gram", "__version__"]
