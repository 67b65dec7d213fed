"""`prodcat predict text` and `prodcat predict batch` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from prodcat_core.labels import LabelCodec

PRODCAT = str(Path(sys.executable).with_name("prodcat"))


def prodcat(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PRODCAT, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_text_prints_the_top_classes(
    cli_env: dict[str, str], artifact: Path, tmp_path: Path
) -> None:
    done = prodcat(
        cli_env, tmp_path, "predict", "text", "Piscine hors sol", "--description", "<b>ronde</b>"
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    codec = LabelCodec.load(artifact / "label_codec.json")
    assert answer["model_id"] == artifact.name
    assert answer["prdtypecode"] in codec.codes
    assert answer["top_k"][0]["prdtypecode"] == answer["prdtypecode"]
    assert answer["truncated"] is False


LISTINGS = pd.DataFrame(
    {
        "id": [7, 8, 9, 10],
        "designation": ["Piscine tubulaire", "Chaussettes bébé", "<br/>", "Roman policier"],
        "description": ["filtre inclus", None, None, "livre de poche " * 500],
    }
)


@pytest.mark.parametrize(
    ("source", "target"), [("in.csv", "out.parquet"), ("in.parquet", "out.csv")]
)
def test_batch_predicts_a_file(
    cli_env: dict[str, str], artifact: Path, tmp_path: Path, source: str, target: str
) -> None:
    src, out = tmp_path / source, tmp_path / "results" / target
    if src.suffix == ".csv":
        LISTINGS.to_csv(src, index=False)
    else:
        LISTINGS.to_parquet(src, index=False)
    done = prodcat(
        cli_env, tmp_path, "predict", "batch", "--input", str(src), "--output", str(out),
        "--chunk-rows", "2", "--model", str(artifact),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "predicted 4 listings" in done.stdout
    assert "predict: 4/4 listings" in done.stdout  # the progress line
    result = pd.read_csv(out) if out.suffix == ".csv" else pd.read_parquet(out)
    assert list(result.columns) == ["id", "prdtypecode", "category", "confidence", "truncated"]
    assert result["id"].tolist() == [7, 8, 9, 10]
    codec = LabelCodec.load(artifact / "label_codec.json")
    predicted = result.drop(index=2)
    assert all(int(c) in codec.codes for c in predicted["prdtypecode"])
    assert predicted["confidence"].between(0, 1).all()
    assert result["prdtypecode"].isna().tolist() == [False, False, True, False]  # "<br/>": no text
    assert result["truncated"].tolist() == [False, False, False, True]
    assert not list(out.parent.glob(".*.tmp"))


def test_batch_refuses_an_unknown_format(cli_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("designation\nx\n")
    done = prodcat(
        cli_env, tmp_path, "predict", "batch", "--input", "in.txt", "--output", "out.csv"
    )
    assert done.returncode == 2
    assert "expected a .csv or .parquet file" in done.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PREDICT_WORKERS": "many"}, "workers: Input should be a valid integer"),
        ({"PREDICT_MAX_ITEMS": "5000", "PREDICT_MAX_QUEUE": "10"}, "must not exceed max_queue"),
        ({"PREDICT_MODEL_SOURCE": "/no/such/model"}, "no such folder"),
    ],
)
def test_serve_refuses_bad_settings_at_once(
    cli_env: dict[str, str], tmp_path: Path, env: dict[str, str], message: str
) -> None:
    done = prodcat({**cli_env, **env}, tmp_path, "predict", "serve", "--port", "1")
    assert done.returncode == 2
    assert message in done.stderr


def test_batch_writes_the_inference_log(
    cli_env: dict[str, str], artifact: Path, tmp_path: Path
) -> None:
    from prodcat_core.inference_log import read_inference_log

    src, out, log = tmp_path / "in.parquet", tmp_path / "out.parquet", tmp_path / "log"
    LISTINGS.to_parquet(src, index=False)
    done = prodcat(
        cli_env, tmp_path, "predict", "batch", "--input", str(src), "--output", str(out),
        "--model", str(artifact), "--inference-log", str(log),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "inference log: 3 records" in done.stdout  # the row without text is no answer
    result = pd.read_parquet(out)
    rows = read_inference_log(str(log)).to_pylist()
    assert {r["source"] for r in rows} == {"batch"}
    assert {r["model_id"] for r in rows} == {artifact.name}
    by_id = {r["listing_id"]: r for r in rows}
    for listing_id, code in zip(result["listing_id"], result["prdtypecode"], strict=True):
        if pd.isna(code):
            assert listing_id not in by_id
        else:
            assert by_id[listing_id]["prdtypecode"] == code
    assert sorted(r["truncated"] for r in rows) == [False, False, True]
