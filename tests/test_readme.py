"""Every command in the README runs: here with tiny settings, or in the test named for it.

A README command that no entry below covers fails ``test_every_readme_command_is_covered``: add it
to ``RUN_HERE`` (run below, with flags that make it cheap) or to ``COVERED_BY`` (a test that runs
the same command on tiny inputs). The Python blocks run as written.
"""

import ast
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()

# A command's signature: its program (``python -m MODULE``) and the flags it passes, values left out, so a
# README edit of a path or a number keeps its entry while a new flag needs a test that passes it.
# Signature -> the test that runs that CLI with those flags (tiny inputs).
COVERED_BY = {
    'pip install -e ".[dev]" && pytest --dist --durations -n -q': ".ci/run",  # CI runs exactly this command
    "pipelines.evaluate --data --model --split": "tests/test_shipped_models.py::test_camvid_report_number_reproduces",
    "pipelines.predict --model --output":
        "tests/pipelines/test_train_evaluate_predict.py::test_predict_writes_masks_at_original_resolution",
    "pipelines.predict --model --output --recursive":
        "tests/pipelines/test_predict_cli.py::test_bad_files_make_exit_1_after_every_good_one_is_written",
    # A Ray cluster and s3:// cannot be reached here: the Ray engine runs on a local Ray (byte-equal
    # outputs), URL inputs/outputs in tests/inference/test_predict_many.py (memory://).
    "pipelines.predict --address --batch-size --engine --gpus-per-worker --model --output --recursive --workers":
        "tests/inference/test_ray_engine.py::test_ray_outputs_equal_the_local_ones_byte_for_byte_and_a_rerun_resumes",
    "pipelines.export --model --name": "tests/export/test_pipeline_cli.py::test_saved_model_and_tflite",
    "pipelines.export --data --format --input-size --model --name --quantize":
        "tests/export/test_pipeline_cli.py::test_saved_model_and_tflite",
    "pipelines.export --format --model --name": "tests/export/test_onnx.py::test_cli_format_onnx",
    "pipelines.train --data --epochs --input-size --label-map --model --num-classes --output":
        "tests/pipelines/test_train_own_data.py::test_holds_out_a_tenth_and_says_so",
}
# Signatures of the commands this file runs (test_readme_quickstart_command, test_readme_preset_fine_tune_command).
RUN_HERE = {
    'pip install -e ".[serving]" && pipelines.train',
    "pipelines.train --data --output --preset",
}
TINY = ["--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "2"]


def blocks(language, text=README):
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def commands(text=README):
    """Each shell command of the README's bash blocks: continuations joined, comments dropped."""
    found = []
    for block in blocks("bash", text):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line and not line.startswith("#"):
                found.append(" ".join(line.split()))
    return found


def signature(command):
    """``python -m MODULE --b 1 --a x`` -> ``MODULE --a --b``; other programs (pip) as written."""
    parts = []
    for segment in command.split(" && "):
        words = shlex.split(segment)
        if words[:2] == ["python", "-m"]:
            flags = sorted({w.split("=")[0] for w in words[3:] if w.startswith("-")})
            parts.append(" ".join([words[2], *flags]))
        else:
            parts.append(segment)
    return " && ".join(parts)


def readme_command(prefix):
    (command,) = [c for c in commands() if c.startswith(prefix)]
    return command


def test_commands_are_parsed_from_the_readme():
    text = "```bash\npython -m a --x 1 \\\n    --y 2   # note\n# only a comment\n```\n```python\nx = 1\n```"
    assert commands(text) == ["python -m a --x 1 --y 2"]
    assert signature('pip install -e ".[x]" && python -m m.n --y=2 a/ --x 1 -q') == 'pip install -e ".[x]" && m.n --x --y -q'



def test_every_readme_command_is_covered():
    found = {signature(c): c for c in commands()}
    uncovered = sorted(c for s, c in found.items() if s not in COVERED_BY and s not in RUN_HERE)
    assert uncovered == [], (f"README commands no test runs (add their signatures {[signature(c) for c in uncovered]} "
                             f"to COVERED_BY or RUN_HERE in tests/test_readme.py): {uncovered}")
    stale = sorted((set(COVERED_BY) | RUN_HERE) - set(found))
    assert stale == [], f"entries for commands no longer in the README: {stale}"
    for key, where in COVERED_BY.items():
        path, _, test = where.partition("::")
        source = (REPO / path).read_text()
        # .ci/run: the same install (quietly) and exactly the same pytest command.
        command = found[key]
        ran = f"def {test}(" in source if test else command.split(" && ")[-1] in source and '".[dev]"' in source
        assert ran, (command, where)


def test_readme_evaluate_command_names_the_shipped_version():
    from kseg.models import list_presets, preset_info

    shipped = {Path(preset_info(name)["saved_model"]).relative_to(REPO).as_posix() for name in list_presets()}
    model = shlex.split(readme_command("python -m pipelines.evaluate"))[4]
    assert model in shipped, (model, shipped)


def test_readme_python_blocks_run_and_their_literal_comments_hold():
    """Each Python block runs; a line ``expr  # literal`` evaluates to that literal."""
    for block in blocks("python"):
        namespace = {}
        exec(compile(block, "README.md", "exec"), namespace)
        for line in block.splitlines():
            code, _, comment = line.partition("  # ")
            try:
                expected = ast.literal_eval(comment.strip())
            except (ValueError, SyntaxError):
                continue
            assert eval(code, namespace) == expected, line


def test_readme_preset_card_number_is_the_table_number():
    from kseg.models import preset_info

    for name in ("camvid_dabnet", "camvid_unet"):
        row = next(line for line in README.splitlines() if line.startswith(f"| `{name}` |"))
        assert f"| {preset_info(name)['test_miou']} |" in row, row


def _folder_dataset(root, count=6, size=(32, 48), classes=3):
    rng = np.random.default_rng(0)
    for folder in ("my_images", "my_masks"):
        (root / folder).mkdir()
    for i in range(count):
        mask = rng.integers(0, classes, size, dtype=np.uint8)
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(root / "my_images" / f"{i}.png")
        Image.fromarray(mask).save(root / "my_masks" / f"{i}.png")


def _run(command, extra, monkeypatch, tmp_path):
    from pipelines import train as train_cli
    from pipelines._cli import run

    monkeypatch.chdir(tmp_path)
    argv = shlex.split(command.split("&&")[-1])[3:] + extra
    with pytest.raises(SystemExit) as exit_info:
        run(train_cli.main, argv)
    assert exit_info.value.code == 0


@pytest.mark.slow
def test_readme_preset_fine_tune_command(tmp_path, monkeypatch):
    """A CamVid DABNet preset re-headed to 3 classes on a folder of images, as the README runs it. The
    preset is a narrow DABNet shipped under the same name in a stand-in saved_models/ (tracing the full
    network's training step costs minutes; tests/models/test_presets.py re-heads the real one)."""
    import keras

    import kseg.models
    from kseg.models import presets, small

    keras.utils.set_random_seed(0)
    narrow = kseg.models.build("dabnet", num_classes=11, **small.SMALL_CONFIGS["dabnet"])
    presets.write_preset(narrow, tmp_path / "shipped" / "camvid_dabnet" / "5" / "preset", name="camvid_dabnet",
                         model_kwargs=small.SMALL_CONFIGS["dabnet"], class_names=[str(i) for i in range(11)])
    monkeypatch.setattr(presets, "PRESETS_ROOT", tmp_path / "shipped")
    _folder_dataset(tmp_path)
    command = readme_command("python -m pipelines.train --preset")
    _run(command, TINY + ["--input-size", "32", "32", "--lr", "1e-12", "--export-name", "none"], monkeypatch,
         tmp_path)
    best = keras.saving.load_model(tmp_path / "runs" / "mine" / "best.keras", safe_mode=True)
    assert best.name == "dabnet" and best.outputs[0].shape[-1] == 3
    assert best.get_layer("classifier").kernel.shape[-1] == 3
    # Started from the preset: at a learning rate of 1e-12 every convolution kept the preset's kernel.
    convolutions = [layer for layer in best.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convolutions) > 10
    for layer in convolutions:
        if layer.name != "classifier":
            np.testing.assert_allclose(layer.kernel, narrow.get_layer(layer.name).kernel, atol=1e-6)


@pytest.mark.slow
def test_readme_quickstart_command(tmp_path, monkeypatch):
    """The README's first command (one tiny epoch): trains, evaluates and exports under the working directory."""
    command = readme_command('pip install -e ".[serving]"')
    assert '"serving"' not in command and "serving = [" in (REPO / "pyproject.toml").read_text()
    _run(command, TINY, monkeypatch, tmp_path)
    version = tmp_path / "saved_models" / "quickstart_unet" / "1"
    assert (version / "saved_model.pb").is_file() and (version / "model_fp32.tflite").is_file()
    assert (tmp_path / "runs" / "quickstart" / "best.keras").is_file()
