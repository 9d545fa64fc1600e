"""featmech.diagnose: the verdict on your own PyTorch network — kernel or feature learning, and how.

The capability gathered in one place (it needs the ``torch`` extra; ``import featmech`` does not
import it): :func:`diagnose` trains a copy of your model next to its linearization and returns a
:class:`Diagnosis` (verdict, per-pair mechanisms, tables, figure, save/load); :class:`Verdict`
and :class:`VerdictThresholds` are the model-level rule (docs/diagnose.md);
:func:`diagnose_widths` runs ``diagnose`` over widths and seeds through the sweep machinery and
returns a :class:`WidthsResult` (exponents, :class:`WidthVerdict`, tables, figure; docs/widths.md).
"""

from featmech.nets.diagnose import Diagnosis, diagnose
from featmech.nets.verdict import PairResult, Verdict, VerdictThresholds
from featmech.sweeps.widths import WidthRule, WidthsResult, WidthVerdict, diagnose_widths

__all__ = ["diagnose", "Diagnosis", "Verdict", "VerdictThresholds", "PairResult", "diagnose_widths", "WidthsResult",
           "WidthVerdict", "WidthRule"]
