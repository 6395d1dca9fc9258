"""Versioned, atomic publishing of export directories for TF Serving.

TF Serving polls ``<base_dir>/<name>`` and loads integer-named directories
only, so a version is written under ``.tmp-<version>-<pid>`` and renamed
into place in one step; leftovers of killed exports are removed.
"""

import os
import re
import shutil

from kseg._io import pid_alive

_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TMP_PATTERN = re.compile(r"^\.(tmp|old)-(\d+)-(\d+)$")


def check_name(name):
    """Return ``name`` if it is a valid model name (a directory under the base), else raise ValueError."""
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise ValueError(
            f"name must start with a letter or digit and contain only letters, digits, '_', '.', '-'; got {name!r}."
        )
    return name


def list_versions(base_dir, name):
    """Sorted integer versions published under ``<base_dir>/<name>/``."""
    model_dir = os.path.join(os.fspath(base_dir), check_name(name))
    if not os.path.isdir(model_dir):
        return []
    return sorted(
        int(entry) for entry in os.listdir(model_dir)
        if entry.isdigit() and os.path.isdir(os.path.join(model_dir, entry))
    )


def remove_stale_temporaries(model_dir):
    """Delete ``.tmp-*``/``.old-*`` folders whose exporting process is gone."""
    for entry in os.listdir(model_dir):
        match = _TMP_PATTERN.match(entry)
        if match and not pid_alive(int(match.group(3))):
            shutil.rmtree(os.path.join(model_dir, entry), ignore_errors=True)


def temporary_dir(model_dir, version):
    """The private folder a version is written into before ``publish``."""
    return os.path.join(model_dir, f".tmp-{version}-{os.getpid()}")


def publish(tmp, final, force):
    """Rename the finished ``tmp`` folder to ``final`` (replacing it only with ``force``)."""
    if os.path.exists(final):
        if not force:
            raise FileExistsError(f"{final} appeared while exporting; not replacing it without force=True.")
        # Two renames: TF Serving sees the old version vanish, then the new
        # one appear complete; never a mix of both.
        old = os.path.join(os.path.dirname(final), f".old-{os.path.basename(final)}-{os.getpid()}")
        os.rename(final, old)
        os.rename(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
        return
    try:
        os.rename(tmp, final)
    except OSError as error:
        raise FileExistsError(f"{final} appeared while exporting ({error.strerror}); not replacing it.") from None
