"""What every entry point shares: clean error exits instead of tracebacks."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Errors a user can fix from the message alone: shown as one line, exit 2.
USER_ERRORS = (ValueError, FileNotFoundError, PermissionError, NotADirectoryError, KeyError)


def run(main, argv=None):
    """Call ``main(argv)``; print user errors as ``error: ...`` and exit non-zero."""
    try:
        code = main(argv)
    except USER_ERRORS as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)
