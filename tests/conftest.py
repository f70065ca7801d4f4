"""Shared fixtures: a tiny run configuration whose files all live in a temporary folder."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from t2ilib.config import preset  # noqa: E402


@pytest.fixture
def tiny_config(tmp_path):
    """The `tiny` preset (32x32, 40 shapes images, 3 steps an epoch) with data in tmp_path."""
    return preset("tiny").replace(**{"data.data_dir": str(tmp_path / "data")})


@pytest.fixture(autouse=True)
def _warnings_logged_afresh():
    """Each test sees its own once-per-process warnings (t2ilib.errors.warn_once)."""
    from t2ilib.errors import forget_logged_warnings

    forget_logged_warnings()
    yield
