"""Routes the predictor adds to kserve's FastAPI app."""
