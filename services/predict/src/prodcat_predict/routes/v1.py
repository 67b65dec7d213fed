"""KServe's V1 routes (model list, model readiness, predict) with kserve's handlers, documented
with their bodies and every status they answer; without `:explain`, which needs an explainer this
server does not have (kserve answered 501 and logged a traceback at ERROR).

(No `from __future__ import annotations` here: FastAPI reads these annotations at runtime.)"""

from typing import Any

from fastapi import APIRouter
from kserve.protocol.dataplane import DataPlane
from kserve.protocol.model_repository_extension import ModelRepositoryExtension
from kserve.protocol.rest.v1_endpoints import V1Endpoints
from pydantic import BaseModel, Field

from prodcat_predict.routes.products import PredictionOut
from prodcat_predict.routes.responses import INFERENCE, error_responses


class V1PredictResponse(BaseModel):
    predictions: list[PredictionOut] = Field(description="one answer per instance, in order")


_TEXT = {"type": "string", "description": "the listing's text; HTML is allowed"}
PREDICT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["instances"],
                    "properties": {
                        "instances": {
                            "type": "array",
                            "minItems": 1,
                            "items": {
                                "anyOf": [
                                    _TEXT,
                                    {
                                        "type": "object",
                                        "required": ["text"],
                                        "properties": {"text": _TEXT},
                                        "additionalProperties": False,
                                    },
                                    {
                                        "type": "object",
                                        "required": ["designation"],
                                        "properties": {
                                            "designation": {"type": "string"},
                                            "description": {"type": ["string", "null"]},
                                        },
                                        "additionalProperties": False,
                                    },
                                ]
                            },
                        }
                    },
                },
                "example": {
                    "instances": [
                        {"designation": "Console de jeux portable", "description": None},
                        "Chaussettes bébé coton bio",
                    ]
                },
            }
        },
    }
}


def v1_router(dataplane: DataPlane, extension: ModelRepositoryExtension) -> APIRouter:
    endpoints = V1Endpoints(dataplane, extension)
    router = APIRouter(prefix="/v1", tags=["V1"])
    router.add_api_route("/models", endpoints.models, methods=["GET"])
    router.add_api_route(
        "/models/{model_name}",
        endpoints.model_ready,
        methods=["GET"],
        responses=error_responses(404, 503),
        summary="Whether the model is ready",
    )
    router.add_api_route(
        "/models/{model_name}:predict",
        endpoints.predict,
        methods=["POST"],
        response_model=None,
        responses={200: {"model": V1PredictResponse}, **error_responses(*INFERENCE)},
        openapi_extra=PREDICT_BODY,
        summary="Predict (KServe V1)",
    )
    return router
