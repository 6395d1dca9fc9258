"""Files where batch prediction reads and writes: local folders, or any URL fsspec understands.

A path with a scheme (``s3://bucket/tiles``, ``gs://...``, ``memory://...``)
goes through fsspec (installed with ``pip install -e ".[ray]"``, which pulls
it in with pyarrow); a plain path goes through ``os`` and ``kseg._io``, so the
local engine needs nothing more. Writes are atomic: locally (plain paths and
``file://``) a temporary file renamed into place, in an object store one PUT
(an object appears whole or not at all), so a file that exists is complete.
"""

import os

from kseg._io import atomic_write_bytes


def is_url(path):
    """Whether ``path`` names a file system by scheme (``s3://...``); ``file://`` counts too."""
    return "://" in os.fspath(path)


def _fs(path):
    """``(fsspec file system, path inside it)`` for a URL."""
    try:
        import fsspec
    except ImportError as error:
        raise ValueError(f"{path!r} is a URL; reading and writing URLs needs fsspec: "
                         'pip install -e ".[ray]"') from error
    return fsspec.core.url_to_fs(os.fspath(path))


def join(folder, *parts):
    """``folder/part/...`` with ``/`` for URLs, ``os.path.join`` otherwise."""
    folder = os.fspath(folder)
    if is_url(folder):
        return "/".join([folder.rstrip("/"), *parts])
    return os.path.join(folder, *parts)


def kind(path):
    """``"dir"``, ``"file"`` or None (nothing there)."""
    path = os.fspath(path)
    if not is_url(path):
        return "dir" if os.path.isdir(path) else "file" if os.path.isfile(path) else None
    fs, inner = _fs(path)
    if fs.isdir(inner):
        return "dir"
    return "file" if fs.isfile(inner) else None


def list_files(folder, recursive):
    """Sorted file paths in ``folder`` (and its subfolders when ``recursive``), hidden names left out."""
    folder = os.fspath(folder)
    if is_url(folder):
        fs, inner = _fs(folder)
        found = fs.find(inner) if recursive else [p for p in fs.ls(inner, detail=False) if fs.isfile(p)]
        base = inner.rstrip("/")
        relative = [p[len(base):].lstrip("/") for p in found]
        return [join(folder, r) for r in sorted(relative) if not _hidden(r)]
    if recursive:
        found = []
        for top, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            found += [os.path.join(top, f) for f in files]
    else:
        found = [os.path.join(folder, f) for f in os.listdir(folder) if os.path.isfile(os.path.join(folder, f))]
    return sorted(p for p in found if not _hidden(os.path.relpath(p, folder)))


def _hidden(relative):
    return any(part.startswith(".") for part in relative.replace(os.sep, "/").split("/"))


def read_bytes(path):
    """The bytes of one file."""
    path = os.fspath(path)
    if is_url(path):
        fs, inner = _fs(path)
        return fs.cat_file(inner)
    with open(path, "rb") as handle:
        return handle.read()


def exists(path):
    path = os.fspath(path)
    if is_url(path):
        fs, inner = _fs(path)
        return fs.exists(inner)
    return os.path.exists(path)


def write_bytes(path, data):
    """Write ``data`` to ``path`` atomically, creating its folder."""
    path = os.fspath(path)
    local = path
    if is_url(path):
        fs, inner = _fs(path)
        if "file" not in (fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)):
            fs.makedirs(inner.rsplit("/", 1)[0], exist_ok=True)
            fs.pipe_file(inner, data)  # one PUT: an object store shows it whole or not at all
            return path
        local = inner  # file://: fsspec would write in place; rename into place instead
    os.makedirs(os.path.dirname(os.path.abspath(local)), exist_ok=True)
    atomic_write_bytes(local, data)
    return path


def remove(path):
    """Remove ``path`` if it exists."""
    path = os.fspath(path)
    if is_url(path):
        fs, inner = _fs(path)
        if fs.exists(inner):
            fs.rm_file(inner)
    elif os.path.exists(path):
        os.remove(path)


def relative(path, folder):
    """``path`` relative to ``folder``, with ``/`` separators."""
    path, folder = os.fspath(path), os.fspath(folder)
    if is_url(path):
        return path[len(folder.rstrip("/")):].lstrip("/")
    return os.path.relpath(path, folder).replace(os.sep, "/")
