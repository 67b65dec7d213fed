"""The data API's side of model health, served for real (uvicorn on 127.0.0.1): appending labelled
files to a dataset version. Bad input is a 4xx with a message and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from prodcat_data.api.app import create_app

from .conftest import api_client
from .test_api import make_settings, store_listing, upload

BASE_X = (
    b",designation,description,productid,imageid\n"
    b"0,Chaise de jardin en teck,Pliante,11,21\n"
    b"1,Livre de poche,,12,22\n"
)
BASE_Y = b",prdtypecode\n0,2582\n1,10\n"
NEW_X = (
    b",designation,description,productid,imageid\n"
    b"0,Livre de poche,,12,22\n"
    b"1,Chaise de jardin en teck,Pliante,11,21\n"
    b"2,Console de jeu portable,,15,25\n"
)
NEW_Y = b",prdtypecode\n0,10\n1,1560\n2,60\n"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("health")


@pytest.fixture(scope="module")
def api(root: Path) -> Iterator[httpx.Client]:
    with api_client(create_app(make_settings(root))) as client:
        yield client


def test_upload_on_top_of_a_dataset_makes_a_new_version(api: httpx.Client) -> None:
    base = upload(api, BASE_X, BASE_Y)
    assert base.status_code in (200, 201), base.text
    base_id = base.json()["dataset_id"]

    appended = upload(api, NEW_X, NEW_Y, params={"base": base_id})
    assert appended.status_code == 201, appended.text
    body = appended.json()
    assert body["dataset_id"] != base_id
    assert body["n_rows"] == 3
    assert body["appended"]["base_dataset_id"] == base_id
    assert (body["appended"]["duplicates_dropped"], body["appended"]["conflicts"]) == (1, 1)
    assert body["appended"]["conflict_examples"][0]["new_prdtypecode"] == 1560
    assert api.get(f"/datasets/{base_id}").json()["n_rows"] == 2  # the base is unchanged


@pytest.mark.parametrize(
    ("x", "params", "status", "message"),
    [
        (
            NEW_X.replace(b"imageid\n", b"imageid,price\n").replace(b"5\n", b"5,1\n"),
            {"base": "latest"},
            400,
            "column(s) price are not in the base dataset",
        ),
        (NEW_X, {"base": "ds-0123456789ab"}, 404, "ds-0123456789ab not found"),
        (NEW_X, {"base": "../x"}, 400, "not a dataset id"),
    ],
)
def test_an_append_that_does_not_fit_is_refused_and_changes_nothing(
    api: httpx.Client,
    root: Path,
    x: bytes,
    params: dict[str, str],
    status: int,
    message: str,
) -> None:
    assert upload(api, BASE_X, BASE_Y).status_code in (200, 201)
    before = store_listing(root)
    answer = upload(api, x, NEW_Y, params=params)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["error"]
    assert store_listing(root) == before
