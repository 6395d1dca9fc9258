"""What every entry point shares: clean error exits instead of tracebacks."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Errors a user can fix from the message alone: shown as one line, exit 2.
USER_ERRORS = (ValueError, FileNotFoundError, PermissionError, NotADirectoryError, KeyError)


def add_tile_arguments(parser, applies_to="a .keras model"):
    """``--tile H W`` and ``--tile-overlap F``: sliding-window inference (``kseg.models.with_tiling``)."""
    parser.add_argument("--tile", type=int, nargs=2, metavar=("H", "W"),
                        help=f"sliding-window inference in H x W tiles ({applies_to})")
    parser.add_argument("--tile-overlap", type=float, default=0.25,
                        help="fraction of a tile shared by neighbouring windows, 0 <= F < 1 (default 0.25)")


def run(main, argv=None):
    """Call ``main(argv)``; print user errors as ``error: ...`` and exit non-zero."""
    try:
        code = main(argv)
    except USER_ERRORS as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    except Exception as error:
        # Data checks inside tf.data (bad mask ids, undecodable files) surface
        # as TensorFlow InvalidArgumentError; their first line names the file.
        import tensorflow as tf

        if not isinstance(error, tf.errors.InvalidArgumentError):
            raise
        print(f"error: {_tf_error_line(error.message)}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)


def _tf_error_line(message):
    """The part of a TensorFlow error message that a user can act on."""
    import re

    found = re.search(r"assertion failed: (.*)", message)
    if found:
        # "[mask id >= ...] [/path/x.png] [id:] [77]" -> "mask id >= ... /path/x.png id: 77"
        return re.sub(r"\[\[.*?\]\]", "", found.group(1)).replace("] [", " ").strip(" []")
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(("Graph execution error", "Detected at node",
                                                             "File ", "[[", "Stack trace", "<stack"))]
    return (useful or lines or ["TensorFlow error"])[0]
