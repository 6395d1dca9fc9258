"""Argument checks shared by the layer family; each error names the argument."""

from kseg._checks import is_int_sequence


def positive_int_pair(value, name):
    """Normalise an int or a pair of ints to a tuple of two positive ints."""
    pair = (value, value) if isinstance(value, int) else tuple(value) if isinstance(value, (tuple, list)) else None
    if pair is None or not is_int_sequence(pair, length=2):
        raise ValueError(f"`{name}` must be a positive int or a pair of positive ints, got {value!r}.")
    return tuple(int(v) for v in pair)


def one_of(value, name, allowed):
    if value not in allowed:
        raise ValueError(f"`{name}` must be one of {', '.join(map(repr, allowed))}; got {value!r}.")
    return value
