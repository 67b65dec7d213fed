"""The reference profile: French-aware words, bins, build, save and load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prodcat_core.errors import InvalidInputError
from prodcat_core.reference_profile import (
    PROFILE_FILE,
    ReferenceProfile,
    bin_shares,
    build_profile,
    build_vocabulary,
    oov_rate,
    words,
)


def test_words_keep_accents_and_drop_elisions_and_digits() -> None:
    assert words("L'Été à Paris: 2 vélos, d'occasion_42") == ["été", "paris", "vélos", "occasion"]
    assert words("ÉLÉPHANT élephant") == ["éléphant", "élephant"]


def test_vocabulary_and_oov_rate() -> None:
    vocabulary = build_vocabulary(["chaise chaise table", "table lampe"], size=2)
    assert vocabulary == ["chaise", "table"]
    assert oov_rate(["chaise lampe", "table"], frozenset(vocabulary)) == pytest.approx(1 / 3)
    assert oov_rate(["42", ""], frozenset(vocabulary)) is None


def test_bin_shares() -> None:
    assert bin_shares([0.05, 0.1, 0.95, 1.0], [0.1, 0.5]) == [0.25, 0.25, 0.5]
    assert bin_shares([], [0.5]) == [0.0, 0.0]


def test_build_save_load(tmp_path: Path) -> None:
    train = ["chaise en bois\ndescription", "livre de cuisine", "lampe de chevet\nbelle lampe"] * 5
    test = ["chaise en chêne\nsolide", "livre ancien"]
    probs = np.array([[0.8, 0.2], [0.3, 0.7]])
    profile = build_profile(
        class_codes=[10, 1560],
        train_texts=train,
        test_texts=test,
        test_probs=probs,
        test_codes=[1560, 1560],
        model_id="m-0123456789ab",
    )
    assert profile.class_shares == {"10": 0.5, "1560": 0.5}
    assert profile.accuracy == 0.5
    assert profile.confidence_mean == pytest.approx(0.75)
    assert profile.low_confidence_share == 0.0
    assert profile.empty_description_share == 0.5
    assert sum(profile.confidence_hist) == pytest.approx(1.0)
    assert sum(profile.text_chars_hist) == pytest.approx(1.0)
    assert "chêne" not in profile.vocabulary
    assert "chaise" in profile.vocabulary
    assert profile.oov_rate == pytest.approx(3 / 6)  # chêne, solide, ancien of 6 words
    profile.save(tmp_path)
    assert ReferenceProfile.load(tmp_path) == profile
    assert ReferenceProfile.load(tmp_path / "old-artifact") is None
    (tmp_path / PROFILE_FILE).write_text("{}", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="not a valid reference profile"):
        ReferenceProfile.load(tmp_path)


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="do not match"):
        build_profile(
            class_codes=[10, 40],
            train_texts=["a"],
            test_texts=["a", "b"],
            test_probs=np.ones((2, 3)),
            test_codes=[10, 40],
        )
