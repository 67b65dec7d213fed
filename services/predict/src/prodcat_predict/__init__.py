"""The predictor: serves a model artifact (a KServe model server) and predicts from the CLI."""
