"""The data stages (generate, import, preprocess) and the data API."""
