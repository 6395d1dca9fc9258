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


def add_data_arguments(parser):
    """The mask options of folder:/list: data, the same as ``kseg.data.from_folders``'s keywords
    and the config keys ``label_map``, ``colour_table``, ``mask_suffix``, ``on_error``."""
    parser.add_argument("--label-map", help="mask value mapping, e.g. 0=0,255=1 (ID may be 'ignore')")
    parser.add_argument("--colour-table", metavar="TABLE",
                        help="RGB colour-coded masks: 'R,G,B=ID;R,G,B=ID', a JSON file, or a text file of "
                             "'R G B [name]' lines (class id = line number, CamVid's label_colors.txt)")
    parser.add_argument("--mask-suffix", metavar="SUFFIX",
                        help="mask stem = image stem + SUFFIX, e.g. _mask for s000.png -> s000_mask.png (folder:)")
    parser.add_argument("--on-error", choices=("raise", "skip"),
                        help="bad image/mask pairs: raise (default) or skip them with a warning")


def data_options(args):
    """``{colour_table, mask_suffix, on_error}`` from the flags of :func:`add_data_arguments` (None: not given)."""
    return {"colour_table": args.colour_table, "mask_suffix": args.mask_suffix, "on_error": args.on_error}


def run(main, argv=None):
    """Call ``main(argv)``; print user errors as ``error: ...`` and exit non-zero.

    Errors about data options name them as flags (``--on-error skip``, ``kseg.data.options``)."""
    previous = os.environ.get("KSEG_OPTION_NAMES")
    os.environ["KSEG_OPTION_NAMES"] = "cli"
    try:
        _run(main, argv)
    finally:
        if previous is None:
            os.environ.pop("KSEG_OPTION_NAMES", None)
        else:
            os.environ["KSEG_OPTION_NAMES"] = previous


def _run(main, argv):
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
