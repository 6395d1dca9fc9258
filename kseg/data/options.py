"""How an error names a data option: as the interface in use spells it.

The same checks run under the Python API (``on_error='skip'``,
``colour_table=...``), config files (whose keys are the keyword names) and
the command line (``--on-error skip``, ``--colour-table FILE``). The
command-line entry points (``pipelines._cli.run``) set the environment
variable ``KSEG_OPTION_NAMES=cli`` while they run (no import needed before
the arguments are parsed); :func:`option_style` sets a style for a block.
"""

from __future__ import annotations

import contextlib
import contextvars
import os

ENV_VAR = "KSEG_OPTION_NAMES"
STYLES = ("python", "cli")
_STYLE = contextvars.ContextVar("kseg_data_option_style", default=None)


def _cli():
    return (_STYLE.get() or os.environ.get(ENV_VAR, "python")) == "cli"


def option(name, value=None, cli_value=None):
    """``"on_error='skip'"`` / ``"--on-error skip"``; without ``value``
    ``"colour_table=..."`` / ``"--colour-table"``. ``cli_value``: how the
    flag spells ``value`` when that differs (``{0: 0}`` -> ``"0=0"``)."""
    if _cli():
        flag = "--" + name.replace("_", "-")
        value = value if cli_value is None else cli_value
        return flag if value is None else f"{flag} {value}"
    return f"{name}=..." if value is None else f"{name}={value!r}"


def option_name(name):
    """``"label_map"`` / ``"--label-map"``."""
    return "--" + name.replace("_", "-") if _cli() else name


@contextlib.contextmanager
def option_style(style):
    """``with option_style("cli"): ...`` names options as flags inside the block."""
    if style not in STYLES:
        raise ValueError(f"option style must be one of {STYLES}; got {style!r}.")
    token = _STYLE.set(style)
    try:
        yield
    finally:
        _STYLE.reset(token)
