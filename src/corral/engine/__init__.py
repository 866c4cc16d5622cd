"""The control plane: workspace state machine, engine operations, reconciler, supervisor."""
