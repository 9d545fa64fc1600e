"""The analysis layer: kernel vs feature learning, the three mechanisms, phase diagrams, infinite-width exponents."""
