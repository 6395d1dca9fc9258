import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
CAMVID_ROOT = (REPO_ROOT / ".." / "shared" / "data" / "camvid").resolve()


@pytest.fixture
def camvid_root():
    """The CamVid folder beside the repo; a skip locally, a failure under CI (``CI`` set)."""
    if not (CAMVID_ROOT / "train.txt").exists():
        message = f"CamVid not found at {CAMVID_ROOT} (expected ../shared/data/camvid beside the repo)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI is set, so the CamVid tests must run", pytrace=False)
        pytest.skip(message)
    return CAMVID_ROOT
