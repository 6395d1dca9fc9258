"""kseg._checks: the one place argument checks live; each error names the argument and its value."""

import numpy as np
import pytest

from kseg._checks import check_ignore_id, check_int, check_number, is_int_sequence, positive_int


@pytest.mark.parametrize("value, kwargs, expected", [
    (3, {}, 3),
    (np.int64(4), {}, 4),
    (0, dict(minimum=0), 0),
    (18, dict(minimum=13, maximum=18), 18),
    (None, dict(allow_none=True), None),
])
def test_check_int_accepts(value, kwargs, expected):
    result = check_int(value, "x", **kwargs)
    assert result == expected and (result is None or type(result) is int)


@pytest.mark.parametrize("value, kwargs, message", [
    (0, {}, "x must be a positive int; got 0."),
    (True, {}, "x must be a positive int; got True."),
    (2.0, {}, "x must be a positive int; got 2.0."),
    (None, {}, "x must be a positive int; got None."),
    (1, dict(minimum=2), "x must be an int >= 2; got 1."),
    (-1, dict(minimum=0, allow_none=True), "x must be an int >= 0 or None; got -1."),
    (19, dict(minimum=13, maximum=18), "x must be an int in 13..18; got 19."),
    (0, dict(maximum=65535), "x must be an int in 1..65535; got 0."),
    (0, dict(context="unet"), "unet: x must be a positive int; got 0."),
])
def test_check_int_rejects_with_the_argument_and_value(value, kwargs, message):
    with pytest.raises(ValueError) as error:
        check_int(value, "x", **kwargs)
    assert str(error.value) == message


def test_positive_int_is_check_int_from_one():
    assert positive_int(1, "n") == 1
    with pytest.raises(ValueError, match=r"^builder: n must be a positive int; got 0\.$"):
        positive_int(0, "n", context="builder")


def test_check_number_and_ignore_id():
    assert check_number("lr", "0.5", inclusive=False) == 0.5
    for bad in (0, float("nan"), "fast"):
        with pytest.raises(ValueError, match="lr must be"):
            check_number("lr", bad, inclusive=False)
    assert check_ignore_id(None, optional=True) is None
    assert check_ignore_id(-100, allow_negative=True) == -100
    with pytest.raises(ValueError, match="ignore_id must be >= 0; got -1"):
        check_ignore_id(-1)


def test_the_callers_use_it():
    """The serving clients, schedules and builders share this check (no local copy): bool ports and
    versions are refused as ints are, with the same message."""
    from kseg.models import unet
    from kseg.serving.rest import RestClient
    from kseg.training.schedules import PolyLearningRate

    with pytest.raises(ValueError, match=r"^port must be an int in 1\.\.65535; got True\.$"):
        RestClient(port=True, model_name="m")
    with pytest.raises(ValueError, match=r"^version must be an int >= 0 or None; got False\.$"):
        RestClient(model_name="m", version=False)
    with pytest.raises(ValueError, match=r"^warmup_steps must be an int >= 0; got -1\.$"):
        PolyLearningRate(0.1, 10, warmup_steps=-1)
    with pytest.raises(ValueError, match=r"^unet: `depth` must be a positive int; got 0\.$"):
        unet(num_classes=3, depth=0)


@pytest.mark.parametrize("values, kwargs, expected", [
    ((6, 12, 18), {}, True),
    ([np.int32(3)], {}, True),
    ((), {}, True),
    ((), dict(allow_empty=False), False),
    ((1, 0), {}, False),
    ((1, 0), dict(minimum=0), True),
    ((1, True), {}, False),
    ((1, 2.0), {}, False),
    ("12", {}, False),
    ((32, 48), dict(length=2), True),
    ((32, 48, 3), dict(length=2), False),
])
def test_is_int_sequence(values, kwargs, expected):
    assert is_int_sequence(values, **kwargs) is expected


def test_sequence_checks_share_it_and_store_python_ints():
    """ASPP rates, DABNet dilations, tile sizes and TFLite input sizes go through is_int_sequence:
    NumPy ints are accepted and stored as Python ints (the layer config stays JSON)."""
    import json

    from kseg.layers import ASPP
    from kseg.models import dabnet
    from kseg.models.tiling import check_tile_size

    layer = ASPP(filters=8, rates=[np.int64(2), np.int64(4)])
    assert json.dumps(layer.get_config()["rates"]) == "[2, 4]"
    with pytest.raises(ValueError, match="`rates` must be a list of positive ints"):
        ASPP(filters=8, rates=(2, True))
    with pytest.raises(ValueError, match="`stage2_dilations` must be a non-empty list of positive ints"):
        dabnet(num_classes=3, stage2_dilations=())
    assert check_tile_size((np.int64(64), 32)) == (64, 32)
