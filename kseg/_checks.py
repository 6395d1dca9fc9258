"""Argument checks shared across kseg; each error names the argument and its value.

Dependency-free (NumPy only) so any kseg module can import it without a cycle.
"""

import math

import numpy as np


def is_int(value):
    """True for Python and NumPy integers, False for bools."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_int_sequence(values, *, minimum=1, length=None, allow_empty=True):
    """True when ``values`` is a list or tuple of ints >= ``minimum`` (bools are not ints), of
    ``length`` items when given and not empty unless ``allow_empty``. Callers raise their own
    message, which says what the sequence is for."""
    return (isinstance(values, (list, tuple))
            and (length is None or len(values) == length)
            and (allow_empty or len(values) > 0)
            and all(is_int(v) and v >= minimum for v in values))


def check_int(value, name, *, minimum=1, maximum=None, allow_none=False, context=""):
    """Return ``value`` as an int if it is an int in ``[minimum, maximum]`` (``None`` passes
    through when ``allow_none``), else raise ValueError.

    ``name`` is the argument as the user wrote it; ``context`` (e.g. the builder or layer)
    prefixes the message: ``"unet: depth must be a positive int; got 0."``. Bools are not ints.
    """
    if value is None and allow_none:
        return None
    if not is_int(value) or value < minimum or (maximum is not None and value > maximum):
        if maximum is not None:
            kind = f"an int in {minimum}..{maximum}"
        else:
            kind = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        prefix = f"{context}: " if context else ""
        raise ValueError(f"{prefix}{name} must be {kind}{' or None' if allow_none else ''}; got {value!r}.")
    return int(value)


def positive_int(value, name, *, context=""):
    """``check_int`` with ``minimum=1``: an int >= 1 or a ValueError naming ``name``."""
    return check_int(value, name, context=context)


def check_number(name, value, *, minimum=0.0, inclusive=True, what=None):
    """``float(value)``, finite and >= (or > when not ``inclusive``) ``minimum``;
    else a ValueError naming ``what`` (default ``name``) and the value."""
    bound = f"{'>=' if inclusive else '>'} {minimum:g}"
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what or name} must be a number {bound}, got {value!r}.") from None
    if not math.isfinite(number) or number < minimum or (not inclusive and number == minimum):
        raise ValueError(f"{what or name} must be a finite number {bound}, got {number}.")
    return number


def check_ignore_id(ignore_id, *, optional=False, allow_negative=False, name="ignore_id"):
    """Validate an ignore id: an int (``None`` too when ``optional``).

    Data sources need ``ignore_id >= 0`` (masks hold non-negative values and
    -1 marks unmapped raw values); losses and metrics accept any int, e.g.
    PyTorch's -100, with ``allow_negative=True``.

    Raises:
        ValueError: naming ``name`` and the value.
    """
    if ignore_id is None and optional:
        return None
    if not is_int(ignore_id):
        kind = "an int or None" if optional else "an int"
        raise ValueError(f"{name} must be {kind}; got {ignore_id!r}.")
    if ignore_id < 0 and not allow_negative:
        raise ValueError(f"{name} must be >= 0; got {ignore_id}.")
    return int(ignore_id)
