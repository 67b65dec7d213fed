"""`POST /v1/products:classify`: the product route, for callers who think in listings rather than
in inference protocols. One listing or a list of them in; per listing, the product type, its
category name, the confidence, the top-k classes and whether the text was cut.

It runs the same pipeline as V1 and V2 (text function, micro-batcher, metrics) on kserve's app.
(No `from __future__ import annotations` here: FastAPI reads these annotations at runtime, and the
list's documented size comes from the settings.)"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, ConfigDict, Field

from prodcat_predict.config import PredictSettings
from prodcat_predict.model import ProdcatModel
from prodcat_predict.pipeline import Listing, Prediction
from prodcat_predict.routes.responses import error_responses

ROUTE = "/v1/products:classify"


class ListingFields(BaseModel):
    """A listing's fields, as the marketplace holds them."""

    model_config = ConfigDict(extra="forbid")

    designation: str = Field(min_length=1, description="the listing's title")
    description: str | None = Field(None, description="the listing's description; HTML is allowed")


class RawText(BaseModel):
    """A listing as one text (title and description already joined)."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, description="the listing's text; HTML is allowed")


class ClassScoreOut(BaseModel):
    prdtypecode: int = Field(description="product type code")
    category: str = Field(description="readable name of the product type")
    probability: float = Field(ge=0, le=1)


class PredictionOut(BaseModel):
    prdtypecode: int = Field(description="the predicted product type code")
    category: str = Field(description="readable name of the predicted product type")
    confidence: float = Field(ge=0, le=1, description="probability of the predicted type")
    top_k: list[ClassScoreOut] = Field(description="the most probable types, most probable first")
    truncated: bool = Field(description="the text was longer than the limit and was cut")
    listing_id: str = Field(
        description="names this answer in the inference log; send it back with a feedback label"
    )


class ModelOut(BaseModel):
    name: str = Field(description="name the model is served under")
    model_id: str = Field(description="id of the artifact (m-…)")
    family: str = Field(description="model family: linear or transformer")


class ClassifyResponse(BaseModel):
    model: ModelOut
    predictions: list[PredictionOut] = Field(description="one answer per listing, in request order")


EXAMPLES: dict[str, dict[str, Any]] = {
    "one listing": {
        "summary": "One listing's fields",
        "value": {
            "designation": "Piscine tubulaire ronde 3,05 x 0,76 m",
            "description": "<p>Structure acier galvanisé, <b>filtre à cartouche</b> inclus.</p>",
        },
    },
    "several listings": {
        "summary": "A list: fields or raw texts, mixed",
        "value": [
            {
                "designation": "Chaussettes bébé coton bio",
                "description": "Lot de 3 paires, 0-6 mois",
            },
            {"designation": "Manette sans fil pour console"},
            {"text": "Harry Potter à l'école des sorciers - livre de poche, bon état"},
        ],
    },
    "raw text": {
        "summary": "One raw text",
        "value": {"text": "Jeu de société familial, 2 à 6 joueurs"},
    },
}


def _to_listing(item: ListingFields | RawText) -> Listing:
    if isinstance(item, RawText):
        return Listing(item.text)
    return Listing(item.designation, item.description)


def _to_out(p: Prediction) -> PredictionOut:
    return PredictionOut(
        prdtypecode=p.prdtypecode,
        category=p.category,
        confidence=p.confidence,
        top_k=[
            ClassScoreOut(prdtypecode=c.prdtypecode, category=c.category, probability=c.probability)
            for c in p.top_k
        ],
        truncated=p.truncated,
        listing_id=p.listing_id or "",
    )


def products_router(get_model: Callable[[], ProdcatModel], settings: PredictSettings) -> APIRouter:
    """The route, bound to the served model and documented with this server's limits."""
    listing_list = Annotated[
        list[ListingFields | RawText],
        Field(min_length=1, json_schema_extra={"maxItems": settings.max_items}),
    ]
    body_type = Annotated[
        ListingFields | RawText | listing_list,
        Body(
            openapi_examples=EXAMPLES,
            description=f"one listing, or a list of at most {settings.max_items}",
        ),
    ]
    top_k_type = Annotated[
        int | None,
        Query(ge=1, le=27, description=f"classes returned per listing (default {settings.top_k})"),
    ]
    router = APIRouter(tags=["products"])

    async def classify(body: body_type, top_k: top_k_type = None) -> ClassifyResponse:
        model = get_model()
        items = body if isinstance(body, list) else [body]
        answers = await model.classify([_to_listing(i) for i in items], top_k)
        meta = model.require_loaded().metadata
        return ClassifyResponse(
            model=ModelOut(name=model.name, model_id=meta.model_id, family=meta.family),
            predictions=[_to_out(a) for a in answers],
        )

    router.add_api_route(
        ROUTE,
        classify,
        methods=["POST"],
        response_model=ClassifyResponse,
        responses=error_responses(400, 413, 415, 422, 503, 504),
        summary="Classify listings into product types",
        description=(
            "Takes one listing (`{designation, description}` or `{text}`) or a list of them and "
            "answers, per listing and in order: the predicted `prdtypecode`, its category name, "
            "the confidence, the top-k classes with their probabilities and `truncated` (the "
            f"cleaned text was longer than {settings.max_text_chars} characters and was cut). "
            f"Limits: {settings.max_items} listings and {settings.max_body_bytes} bytes per "
            "request."
        ),
    )
    return router
