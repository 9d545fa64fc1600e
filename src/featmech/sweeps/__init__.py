"""The sweeps layer: sweep specifications, executors and the resumable results store."""
