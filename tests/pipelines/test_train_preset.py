"""``pipelines.train --preset``: wrong combinations and unknown names fail in one line, before any work."""

import pytest

from pipelines import train as train_cli
from pipelines._cli import run


@pytest.mark.parametrize("argv,message", [
    (["--preset", "nope"], "error: Unknown preset 'nope'. Known presets: camvid_dabnet, camvid_unet."),
    (["--preset", "camvid_dabnet", "--model", "unet"],
     "error: --preset camvid_dabnet sets the model (dabnet) and its starting weights: drop --model and --init-weights."),
    (["--preset", "camvid_dabnet", "--init-weights", "x.keras"],
     "error: --preset camvid_dabnet sets the model (dabnet) and its starting weights: drop --model and --init-weights."),
])
def test_preset_errors_are_one_line(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run(train_cli.main, argv + ["--output", str(tmp_path / "never")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == message
    assert not (tmp_path / "never").exists()


def test_preset_sets_model_weights_and_scale():
    from kseg.models.presets import training_options

    args = train_cli.parse_args(["--preset", "camvid_unet"])
    assert train_cli._apply_preset(args) == {"model_kwargs": {"base_filters": 32, "depth": 4, "upsampling": "transposed"}}
    assert args.model == "unet" and args.input_scale == 0.5
    assert args.init_weights == training_options("camvid_unet")["init_weights"]
    assert args.init_weights.endswith("saved_models/camvid_unet/2/preset/model.keras")
