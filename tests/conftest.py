import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Under pytest-xdist, N workers share the cores: give each TensorFlow (and the
# subprocesses it starts) its share instead of N pools that each spin on every core.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1 and os.environ.get("KSEG_TEST_SHARE_CORES", "1") == "1":
    _share = str(max(1, (os.cpu_count() or 1) // _WORKERS))
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", _share)
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", _share)

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


def pytest_itemcollected(item):
    """Under ``pytest -n N --dist loadgroup`` (the README command), keep together the tests of a
    module that share a module- or session-scoped fixture, so each worker builds it at most once
    per module; every other test is scheduled on its own, so one file's many parametrized cases
    (a model matrix, say) spread over the workers. Marked as each item is collected, before
    xdist's ``pytest_collection_modifyitems`` reads the marks."""
    fixtures = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    if any(d.scope in ("module", "package", "session") for defs in fixtures.values() for d in defs
           if d.argname not in _UBIQUITOUS):
        item.add_marker(pytest.mark.xdist_group(item.module.__name__))


def pytest_collection_finish(session):
    """Say so when xdist ignored the groups (pytest-xdist#1386: pytest 9.2 node ids), instead of
    letting every worker rebuild the shared fixtures silently (the suite then takes minutes more)."""
    if not session.config.getoption("loadgroup", default=False):
        return
    grouped = [item for item in session.items if item.get_closest_marker("xdist_group")]
    if grouped and not any("@" in item.nodeid for item in grouped):
        import warnings

        warnings.warn(f"--dist loadgroup ignored the xdist_group marks of {len(grouped)} tests with pytest "
                      f"{pytest.__version__} (pytest-xdist#1386); shared fixtures are rebuilt per worker. "
                      'Install the pinned versions: pip install -e ".[dev]"', stacklevel=1)


# Session fixtures every test can see and that cost nothing (pytest's own).
_UBIQUITOUS = {"tmp_path_factory", "tmpdir_factory", "monkeypatch", "cache", "worker_id", "testrun_uid"}
