"""Files that readers see whole or not at all, and folders checked before a long job writes to them.

Every kseg file a reader may pick up while it is being written (reports,
labels, TF Serving configs, TFLite models, checkpoint state, a run's
``config.json``) goes through ``atomic_write_*``: the content is written to
a temporary file in the destination's folder (same file system, so the
rename is atomic), flushed to disk, and moved over the destination with
``os.replace``. A failure at any step removes the temporary file and leaves
the destination as it was.
"""

import contextlib
import json
import os
import tempfile


@contextlib.contextmanager
def atomic_path(path, suffix=".tmp"):
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    For writers that need a file name rather than bytes (``model.save``):
    the caller writes the temporary file, and it is moved into place when the
    ``with`` block ends without an exception. ``suffix`` ends the temporary
    name (Keras insists on ``.keras``). On any exception the temporary file
    is removed and ``path`` is untouched.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=suffix, dir=directory)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        # mkstemp creates the file 0600; give it what open() would (0666 minus
        # the umask) so TF Serving or another user can read what we publish.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, data):
    """Write ``data`` (bytes) to ``path`` so readers never see a partial file.

    Returns ``path`` (a str).
    """
    path = os.fspath(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)
    return path


def atomic_write_text(path, text):
    """``atomic_write_bytes`` of ``text`` encoded as UTF-8."""
    if not isinstance(text, str):
        raise TypeError(f"atomic_write_text: text for {os.fspath(path)!r} must be a str, got {type(text).__name__}.")
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, value, indent=2):
    """``value`` as JSON (``indent`` spaces, trailing newline), written atomically.

    The value is serialised before anything is written, so a value that is
    not JSON (a NumPy array, say) raises ``TypeError`` and leaves no file.
    """
    return atomic_write_text(path, json.dumps(value, indent=indent) + "\n")


def check_writable_dir(path, what="Output directory"):
    """Create ``path`` if needed and check that files can be created in it.

    Args:
        path: folder.
        what: how the error names the folder ("Output directory", "model
            directory", ...).

    Returns:
        ``path`` as a str.

    Raises:
        NotADirectoryError: ``path`` or one of its parents is a file.
        PermissionError: ``path`` cannot be created or written.
        Either message names ``path`` and says why.
    """
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise NotADirectoryError(f"{what} {path!r} exists and is not a directory.")
    try:
        os.makedirs(path, exist_ok=True)
        # os.access can say yes where creating a file fails (read-only mounts, ACLs).
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as error:
        # A file where a parent folder should be stays a NotADirectoryError;
        # every other reason (permissions, read-only mount) is a PermissionError.
        kind = NotADirectoryError if isinstance(error, NotADirectoryError) else PermissionError
        raise kind(f"{what} {path!r} is not writable: {error.strerror or error}.") from None
    return path


def pid_alive(pid):
    """Whether a process with id ``pid`` exists on this machine (``os.kill(pid, 0)``)."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True
