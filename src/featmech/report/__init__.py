"""The report layer: figures and the self-contained HTML report."""
