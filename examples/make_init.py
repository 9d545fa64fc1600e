"""Write an init file for ``featmech trajectory --init`` and ``featmech simulate --init``.

An init file is an ``.npz`` archive holding two equal-length real vectors, ``u0`` (the output
layer) and ``w0`` (the hidden layer); ``numpy.savez(path, u0=u0, w0=w0)`` writes one as well.
This script writes the README's example, ``examples/my_init.npz``: width 200, u_i ~ N(0, 0.1²),
w_i ~ N(0, 0.1²), correlation 0.5 between u_i and w_i, seed 0.

    python examples/make_init.py                  # writes examples/my_init.npz
    python examples/make_init.py other.npz        # or any other path
"""

from __future__ import annotations

import sys
from pathlib import Path

from featmech.theory.inits import iid_gaussian, save_npz


def main(path: str | Path = Path(__file__).with_name("my_init.npz")) -> None:
    """Write the example init to ``path``."""
    save_npz(path, iid_gaussian(200, sigma_u=0.1, sigma_w=0.1, rho=0.5, seed=0))


if __name__ == "__main__":
    main(*sys.argv[1:2])
