"""Training loops (one file per family) and the shared checkpoint/resume state."""
