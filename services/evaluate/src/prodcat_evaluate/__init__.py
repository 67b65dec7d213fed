"""The evaluate stage: scores a model on held-out data, plots, and the promotion gate."""
