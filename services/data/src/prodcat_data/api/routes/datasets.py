"""`/datasets`: upload or import the challenge's files, list and show versions, preprocess."""

from __future__ import annotations

import functools
from pathlib import Path as FsPath
from typing import Annotated, Any
from urllib.parse import urlparse

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from prodcat_core.datasets import DatasetManifest, SplitParams, dataset_store, prepared_store
from prodcat_core.staging import held_folder
from prodcat_data.api.context import ApiContext, get_context
from prodcat_data.api.errors import ErrorBody
from prodcat_data.api.schemas import DatasetSummary, DatasetView, PreparedView, UrlImport
from prodcat_data.api.uploads import check_multipart, receive_upload
from prodcat_data.config import DataSettings
from prodcat_data.importer import ImportResult, import_dataset
from prodcat_data.preprocess import preprocess_dataset
from prodcat_data.sources import public_address

router = APIRouter(prefix="/datasets", tags=["datasets"])
Context = Annotated[ApiContext, Depends(get_context)]
# The pattern is documented, not enforced by FastAPI: the store checks ids, with its message.
DatasetId = Annotated[
    str,
    Path(
        description="a dataset id (ds-…) or 'latest'",
        json_schema_extra={"pattern": "^(latest|ds-[0-9a-f]{12})$"},
        examples=["ds-1a2b3c4d5e6f"],
    ),
]
# Appending to a dataset version: the store checks the id, with its message.
BaseQuery = Annotated[
    str | None,
    Query(
        description="append to this dataset (ds-… or 'latest'): the new version is its rows plus "
        "the files' (duplicates dropped, conflicting labels reported in `appended`)",
        json_schema_extra={"pattern": "^(latest|ds-[0-9a-f]{12})$"},
        examples=["ds-1a2b3c4d5e6f"],
    ),
]

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "bad input: the message names the file, row and id"},
    404: {"model": ErrorBody, "description": "no such dataset"},
}

_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["x", "y"],
                "properties": {
                    "x": {
                        "type": "string",
                        "format": "binary",
                        "description": "X file: ,designation,description,productid,imageid",
                    },
                    "y": {
                        "type": "string",
                        "format": "binary",
                        "description": "Y file: ,prdtypecode",
                    },
                },
            },
            "encoding": {"x": {"contentType": "text/csv"}, "y": {"contentType": "text/csv"}},
        }
    },
}


# An upload's staging folder under the uploads directory.
UPLOAD_PREFIX = "upload-"
# Recorded as an uploaded file's source: its temporary server path means nothing to a reader.
UPLOAD_SOURCE = "upload"


def _public_source(source: str, uploads: FsPath) -> str:
    """Where a file came from, without the server's paths."""
    if urlparse(source).scheme.lower() in ("http", "https", "s3") or source == UPLOAD_SOURCE:
        return source
    return UPLOAD_SOURCE if FsPath(source).is_relative_to(uploads) else "file"


def _view(manifest: DatasetManifest, settings: DataSettings, created: bool | None) -> DatasetView:
    prepared = prepared_store(settings.prepared_dir)
    prepared_ids = [
        pid
        for pid in prepared.ids()
        if prepared.manifest(pid).get("dataset_id") == manifest.dataset_id
    ]
    uploads = settings.uploads().resolve()
    sources = [
        s.model_copy(update={"source": _public_source(s.source, uploads)}) for s in manifest.sources
    ]
    return DatasetView(
        **manifest.model_dump(exclude={"sources"}),
        sources=sources,
        prepared_ids=prepared_ids,
        created=created,
    )


def _imported(result: ImportResult, settings: DataSettings, response: Response) -> DatasetView:
    response.status_code = 201 if result.created else 200
    return _view(result.manifest, settings, result.created)


@router.post(
    "",
    status_code=201,
    summary="Upload the X and Y files",
    description="Multipart upload of the challenge's two CSV files (fields `x` and `y`), validated "
    "and stored as an immutable dataset version. 201 when new, 200 when the same files were "
    "imported before. With `?base=ds-…` the files are appended to that version (same columns "
    "required). 413 past `DATA_MAX_FILE_BYTES` per file, 415 when the body is not "
    "multipart/form-data or a part is not CSV.",
    openapi_extra={"requestBody": _UPLOAD_BODY},
    responses={
        **_ERRORS,
        200: {"model": DatasetView, "description": "the same files were imported before"},
        413: {"model": ErrorBody, "description": "a file is larger than the limit"},
        415: {"model": ErrorBody, "description": "not multipart/form-data, or a part is not CSV"},
    },
)
async def upload_dataset(
    request: Request, response: Response, context: Context, base: BaseQuery = None
) -> DatasetView:
    settings = context.settings
    boundary = check_multipart(
        request.headers.get("content-type"),
        request.headers.get("content-length"),
        settings.max_file_bytes,
    )
    uploads = settings.uploads()
    uploads.mkdir(parents=True, exist_ok=True)
    # Locked while this request owns it: a crash leaves it for the next start to remove.
    with held_folder(uploads, UPLOAD_PREFIX) as folder:
        files = await receive_upload(request.stream(), boundary, folder, settings.max_file_bytes)
        result = await run_in_threadpool(
            functools.partial(
                import_dataset,
                str(files["x"].path),
                str(files["y"].path),
                settings,
                source_labels=(UPLOAD_SOURCE, UPLOAD_SOURCE),
                base=base,
            )
        )
    return _imported(result, settings, response)


@router.post(
    "/import",
    status_code=201,
    summary="Import the X and Y files from http(s) URLs",
    responses={**_ERRORS, 200: {"model": DatasetView, "description": "imported before"}},
)
def import_from_urls(body: UrlImport, response: Response, context: Context) -> DatasetView:
    settings = context.settings
    connect_to = None
    if not settings.import_allow_private_urls:
        # The download connects to the addresses checked here, and follows no redirect.
        connect_to = {
            body.x_url: public_address(body.x_url, "x_url"),
            body.y_url: public_address(body.y_url, "y_url"),
        }
    result = import_dataset(
        body.x_url,
        body.y_url,
        settings,
        follow_redirects=settings.import_allow_private_urls,
        connect_to=connect_to,
        base=body.base,
    )
    return _imported(result, settings, response)


@router.get("/import", include_in_schema=False)
def import_is_post_only() -> None:
    """`/datasets/import` is an action, not a dataset id: other methods are a 405."""
    raise HTTPException(status_code=405)


@router.get("", summary="List dataset versions")
def list_datasets(context: Context) -> list[DatasetSummary]:
    store = dataset_store(context.settings.datasets_dir)
    out = []
    for version in store.ids():
        m = DatasetManifest.model_validate(store.manifest(version))
        out.append(
            DatasetSummary(
                dataset_id=m.dataset_id,
                created_at=m.created_at,
                n_rows=m.n_rows,
                n_classes=len(m.class_counts),
                synthetic=m.synthetic,
            )
        )
    return sorted(out, key=lambda d: d.created_at, reverse=True)


def _resolve(context: ApiContext, dataset_id: str) -> str:
    """An existing dataset id from a path parameter: an id or `latest`, never a path."""
    store = dataset_store(context.settings.datasets_dir)
    return store.resolve(dataset_id if dataset_id == "latest" else store.check_id(dataset_id))


@router.get(
    "/{dataset_id}",
    summary="A dataset version's manifest",
    description="Counts per class, sha256 of each source file, creation time, prepared versions.",
    responses=_ERRORS,
)
def get_dataset(dataset_id: DatasetId, context: Context) -> DatasetView:
    store = dataset_store(context.settings.datasets_dir)
    version = _resolve(context, dataset_id)
    return _view(DatasetManifest.model_validate(store.manifest(version)), context.settings, None)


@router.post(
    "/{dataset_id}/preprocess",
    status_code=201,
    summary="Clean, de-duplicate and split a dataset version",
    description="Runs the text function, drops duplicates and splits into train/val/test/holdout. "
    "201 with the new prepared version; 200 when it was prepared with these params before.",
    responses={**_ERRORS, 200: {"model": PreparedView, "description": "prepared before"}},
)
def preprocess(
    dataset_id: DatasetId,
    response: Response,
    context: Context,
    params: Annotated[
        SplitParams | None,
        Body(
            openapi_examples={
                "default": {"value": {"val": 0.1, "test": 0.1, "holdout": 0.05, "seed": 42}}
            }
        ),
    ] = None,
) -> PreparedView:
    version = _resolve(context, dataset_id)
    result = preprocess_dataset(version, params or SplitParams(), context.settings)
    response.status_code = 201 if result.created else 200
    return PreparedView(**result.manifest.model_dump(), created=result.created)
