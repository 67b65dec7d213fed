"""The MLflow pyfunc flavour of a prodcat artifact (models from code, so no pickle).

MLflow copies this file into every logged model; `mlflow models serve` and
`mlflow.pyfunc.load_model` run it. Our own predictor does not: it reads the artifact folder
carried beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc.model import PythonModel

from prodcat_core.model import LoadedModel, load_model
from prodcat_core.text import listing_texts


class ProdcatPyfunc(PythonModel):
    def load_context(self, context: Any) -> None:
        self.loaded: LoadedModel = load_model(Path(context.artifacts["artifact"]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        description = (
            model_input["description"]
            if "description" in model_input
            else [None] * len(model_input)
        )
        texts = listing_texts(model_input["designation"].tolist(), list(description))
        proba = self.loaded.classifier.predict_proba(texts)
        best = proba.argmax(axis=1)
        codes = self.loaded.codec.decode(best)
        return pd.DataFrame(
            {
                "prdtypecode": codes,
                "category": [self.loaded.codec.name_of(int(c)) for c in codes],
                "confidence": proba[np.arange(len(best)), best],
            }
        )


mlflow.models.set_model(ProdcatPyfunc())
