"""The theory layer: exact gradient flow, initializations, width-free discrete-time training."""
