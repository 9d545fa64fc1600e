"""The networks layer (PyTorch extra): nonlinear and deep networks, the MechanismMonitor, experiments."""
