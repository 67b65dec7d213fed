"""The Open Inference Protocol (V2) routes, in place of kserve 0.21's (whose health and model-list
handlers they reuse): server and model metadata, model readiness and inference, with and without
`/versions/{version}`.

- Inference reads the body itself (`oip.decode_infer_request`): JSON without a Content-Type, the
  binary tensor extension, and a 400 for every malformed part (kserve: 415 or 500).
- The served version is the artifact id the answers name in `model_version`; its `/versions/…`
  routes answer like the plain ones, any other version is 404 (kserve: 501 logged at ERROR).
- Model metadata lists that version and the platform (kserve: `null` and `""`).
- Server metadata advertises `binary_tensor_data` only: the model-repository routes are refused.
(No `from __future__ import annotations`: FastAPI reads these annotations at runtime.)"""

from collections.abc import Callable
from importlib.metadata import version
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from kserve.protocol.dataplane import DataPlane
from kserve.protocol.infer_type import InferResponse
from kserve.protocol.rest.v2_endpoints import V2Endpoints
from pydantic import BaseModel, ConfigDict, Field

from prodcat_core.errors import NotFoundError
from prodcat_predict.model import ProdcatModel
from prodcat_predict.oip import DATATYPE_SIZES, HEADER_LENGTH, decode_infer_request
from prodcat_predict.routes.responses import INFERENCE, error_responses

PREFIX = "/v2"
EXTENSIONS = ["binary_tensor_data"]
Datatype = Literal[
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
    "FP16", "FP32", "FP64", "BYTES",
]  # fmt: skip
assert set(Datatype.__args__) == set(DATATYPE_SIZES)  # type: ignore[attr-defined]


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str] = Field(description="protocol extensions this server implements")


class TensorMetadata(BaseModel):
    name: str
    datatype: Datatype
    shape: list[int] = Field(description="-1 for a dimension of any size")


class ModelMetadata(BaseModel):
    name: str
    versions: list[str] = Field(description="the served artifact's id (answers' model_version)")
    platform: str = Field(description="prodcat_<family>: linear or transformer")
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ModelReady(BaseModel):
    name: str
    ready: bool


class TensorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    datatype: Datatype
    shape: list[int] = Field(description="non-negative sizes; their product is the value count")
    parameters: dict[str, Any] | None = Field(
        None, description="binary extension: binary_data_size, bytes of this tensor after the JSON"
    )
    data: list[Any] | None = Field(None, description="the values, row-major, flat or nested")


class RequestedOutputIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    parameters: dict[str, Any] | None = None


class InferenceRequestIn(BaseModel):
    """A V2 inference request: one BYTES tensor `text`, or `designation` and `description`."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[TensorIn] = Field(min_length=1)
    outputs: list[RequestedOutputIn] | None = None


class TensorOut(BaseModel):
    name: str
    datatype: Datatype
    shape: list[int]
    parameters: dict[str, Any] | None = None
    data: list[Any] | None = None


class InferenceResponseOut(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str
    parameters: dict[str, Any] | None = None
    outputs: list[TensorOut]


INFER_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/InferenceRequestIn"}},
            "application/octet-stream": {
                "schema": {"type": "string", "format": "binary"},
                "description": f"binary tensor extension: the JSON request ({HEADER_LENGTH} "
                "bytes), then the tensors' bytes",
            },
        },
    },
    "responses": {
        "200": {
            "content": {
                "application/octet-stream": {
                    "schema": {"type": "string", "format": "binary"},
                    "description": "binary outputs (asked for with binary_data_output or an "
                    f"output's binary_data): the JSON response ({HEADER_LENGTH} bytes), then "
                    "the tensors' bytes",
                }
            }
        }
    },
    "parameters": [
        {
            "name": HEADER_LENGTH,
            "in": "header",
            "required": False,
            "schema": {"type": "integer", "minimum": 0},
            "description": "binary extension: length of the JSON part at the start of the body",
        }
    ],
}


def extra_schemas() -> dict[str, Any]:
    """Components the inference route's `requestBody` refers to (it reads the body itself)."""
    schema = InferenceRequestIn.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    return {**defs, "InferenceRequestIn": schema}


def open_inference_router(get_model: Callable[[], ProdcatModel], dataplane: DataPlane) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["V2"])

    def served(model_name: str, model_version: str | None = None) -> ProdcatModel:
        model = get_model()
        if model_name != model.name:
            raise NotFoundError(f"no model named {model_name!r}; this server serves {model.name!r}")
        if model_version is not None:
            served_version = model.require_loaded().metadata.model_id
            if model_version != served_version:
                raise NotFoundError(
                    f"model {model.name} has no version {model_version!r}; it serves "
                    f"{served_version!r}"
                )
        return model

    def metadata_of(model: ProdcatModel) -> ModelMetadata:
        meta = model.require_loaded().metadata
        return ModelMetadata.model_validate(
            {
                "name": model.name,
                "versions": [meta.model_id],
                "platform": f"prodcat_{meta.family}",
                "inputs": model.get_input_types(),
                "outputs": model.get_output_types(),
            }
        )

    async def server_metadata() -> ServerMetadata:
        return ServerMetadata(
            name="prodcat", version=version("prodcat-predict"), extensions=EXTENSIONS
        )

    async def model_metadata(model_name: str) -> ModelMetadata:
        return metadata_of(served(model_name))

    async def version_metadata(model_name: str, model_version: str) -> ModelMetadata:
        return metadata_of(served(model_name, model_version))

    async def model_ready(model_name: str) -> ModelReady:
        return ModelReady(name=served(model_name).name, ready=True)

    async def version_ready(model_name: str, model_version: str) -> ModelReady:
        return ModelReady(name=served(model_name, model_version).name, ready=True)

    async def infer(request: Request, model_name: str) -> Response:
        return await infer_with(served(model_name), request)

    async def version_infer(request: Request, model_name: str, model_version: str) -> Response:
        return await infer_with(served(model_name, model_version), request)

    async def infer_with(model: ProdcatModel, request: Request) -> Response:
        body = await request.body()
        infer_request = decode_infer_request(body, request.headers.get(HEADER_LENGTH), model.name)
        response, _ = await dataplane.infer(
            model_name=model.name, request=infer_request, headers=dict(request.headers)
        )
        assert isinstance(response, InferResponse)  # our model's postprocess answers V2 so
        content, json_size = response.to_rest()
        if json_size is None:
            return JSONResponse(content)
        return Response(
            content,
            media_type="application/octet-stream",
            headers={HEADER_LENGTH: str(json_size)},
        )

    kserve_v2 = V2Endpoints(dataplane)
    router.add_api_route("", server_metadata, methods=["GET"])
    router.add_api_route("/health/live", kserve_v2.live, methods=["GET"], tags=["health"])
    router.add_api_route(
        "/health/ready",
        kserve_v2.ready,
        methods=["GET"],
        tags=["health"],
        responses=error_responses(503),
    )
    router.add_api_route("/models", kserve_v2.models, methods=["GET"])
    for path, metadata, ready, inference in (
        ("/models/{model_name}", model_metadata, model_ready, infer),
        ("/models/{model_name}/versions/{model_version}", version_metadata, version_ready,
         version_infer),
    ):  # fmt: skip
        router.add_api_route(path, metadata, methods=["GET"], responses=error_responses(404, 503))
        router.add_api_route(
            f"{path}/ready", ready, methods=["GET"], responses=error_responses(404, 503)
        )
        router.add_api_route(
            f"{path}/infer",
            inference,
            methods=["POST"],
            response_model=InferenceResponseOut,
            responses=error_responses(*INFERENCE),
            openapi_extra=INFER_BODY,
            summary="Infer (Open Inference Protocol V2, JSON or binary tensor extension)",
        )
    return router
