"""The predictor: serves a model artifact (KServe model server) and predicts from the command line."""
