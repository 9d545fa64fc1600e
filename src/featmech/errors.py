"""The one exception a user mistake raises.

:class:`InputError` is a :class:`ValueError`, so ``except ValueError`` keeps working in users'
scripts. The command line turns an ``InputError`` (and only that, besides I/O errors it can
explain) into exit status 2 and one line on stderr: any other exception is a bug and shows its
traceback.
"""

from __future__ import annotations

__all__ = ["InputError"]


class InputError(ValueError):
    """A user mistake: the message names the parameter and the allowed range."""
