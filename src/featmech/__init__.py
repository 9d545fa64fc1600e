"""featmech: exact learning dynamics and the three mechanisms of feature learning.

The core (this package without extras) needs only numpy, scipy and click.
"""

from .exact import Gram, Hyper, Solution, State, gram_of, solve, solve_gram

__version__ = "0.1.0"

__all__ = ["Gram", "Hyper", "Solution", "State", "gram_of", "solve", "solve_gram", "__version__"]
