"""The train stage: fits a model family on a prepared dataset and writes a model artifact."""
