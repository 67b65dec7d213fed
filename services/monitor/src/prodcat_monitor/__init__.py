"""prodcat monitor stage: the inference log against the model's reference profile."""
