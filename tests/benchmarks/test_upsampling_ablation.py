"""The upsampling/dilation ablation command: quick run end to end, resume, report text."""

import json
import re

import pytest

from benchmarks import upsampling_ablation as ua

ALL = [f"segnet_basic_{m}" for m in ua.UPSAMPLING] + [f"deeplab_v3_os{s}" for s in ua.OUTPUT_STRIDES]


def _row(name, group, miou, boundary):
    return dict(name=name, group=group, label=name.replace("_", " "), val_miou=miou, boundary_miou=boundary)


def test_conclusion_restates_the_rankings_and_names_differing_leaders():
    rows = [_row("a", "upsampling", 0.50, 0.30), _row("b", "upsampling", 0.55, 0.28),
            _row("c", "upsampling", 0.40, 0.35)]
    text = ua.conclusion(rows, "upsampling")
    assert "by val mIoU b (55.0) > a (50.0) > c (40.0) (spread 15.0 points)" in text
    assert "by boundary mIoU c (35.0) > a (30.0) > b (28.0) (spread 7.0 points)" in text
    assert "The leaders differ: b on mIoU, c on boundaries." in text
    same = ua.conclusion([_row("a", "dilation", 0.6, 0.4), _row("b", "dilation", 0.5, 0.3)], "dilation")
    assert "A leads on both." in same
    assert ua.conclusion(rows[:1], "upsampling") == ""


def test_defaults_quick_versus_full_and_variant_selection():
    quick = ua.parse_args(["--quick"])
    assert (quick.data, quick.input_size, quick.epochs, quick.steps_per_epoch) == ("synthetic", (64, 64), 1, 2)
    full = ua.parse_args([])
    assert (full.data, full.input_size, full.epochs, full.segnet_filters) == (
        "camvid:../shared/data/camvid", (176, 240), 30, 64)
    names = [v.name for v in ua.variants(full)]
    assert names == ALL
    assert [v.name for v in ua.select(ua.variants(full), "dilation,segnet_basic_nearest")] == [
        "segnet_basic_nearest", "deeplab_v3_os32", "deeplab_v3_os16", "deeplab_v3_os8"]
    with pytest.raises(ValueError, match="unknown 'bicubic'"):
        ua.select(ua.variants(full), "bicubic")
    with pytest.raises(SystemExit):
        ua.parse_args(["--input-size", "16", "16"])


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ablation")
    work, report = root / "work", root / "report.md"
    ua.main(["--quick", "--workdir", str(work), "--output", str(report)])
    return work, report


@pytest.mark.slow
def test_quick_run_writes_a_table_with_every_variant(quick_run):
    work, report = quick_run
    text = report.read_text()
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| \w+ \| (\w+): .*$", text, re.M)}
    assert list(rows) == ALL
    results = {name: json.loads((work / name / "result.json").read_text()) for name in ALL}
    params = {name: r["params"] for name, r in results.items()}
    # Only the transposed decoder has weights in its upsampler: 4 x (4*4*8*8 + 8) at 8 filters.
    assert params["segnet_basic_bilinear"] == params["segnet_basic_nearest"] == params["segnet_basic_unpool"]
    assert params["segnet_basic_transposed"] - params["segnet_basic_unpool"] == 4 * (16 * 8 * 8 + 8)
    for name, r in results.items():
        # The NumPy evaluation at the run size agrees with fit's own val mIoU of the kept checkpoint.
        assert r["val_miou"] == pytest.approx(r["fit_val_miou"], abs=2e-3), name
        assert 0.0 <= r["boundary_miou"] <= 1.0 and r["gflops"] > 0
        assert f"| {r['params']:,} |" in rows[name]
    strides = [results[f"deeplab_v3_os{s}"]["rf_stride"] for s in ua.OUTPUT_STRIDES]
    assert strides == list(ua.OUTPUT_STRIDES)
    assert results["deeplab_v3_os8"]["gflops"] > results["deeplab_v3_os16"]["gflops"] > results[
        "deeplab_v3_os32"]["gflops"]
    assert "## What the numbers show" in text and "**Upsampling**: by val mIoU" in text
    assert "**Dilation**: by val mIoU" in text


@pytest.mark.slow
def test_rerun_reuses_finished_variants_and_refuses_other_settings(quick_run):
    work, _ = quick_run
    before = (work / "segnet_basic_unpool" / "result.json").stat().st_mtime_ns
    second = work.parent / "second.md"
    ua.main(["--quick", "--workdir", str(work), "--output", str(second), "--variants", "segnet_basic_unpool"])
    assert (work / "segnet_basic_unpool" / "result.json").stat().st_mtime_ns == before
    assert "segnet_basic_unpool" in second.read_text() and "segnet_basic_nearest" not in second.read_text()
    with pytest.raises(ValueError, match="other settings"):
        ua.main(["--quick", "--workdir", str(work), "--output", str(second), "--seed", "1",
                 "--variants", "segnet_basic_unpool"])


def test_regenerated_report_keeps_the_hand_written_conclusion(tmp_path):
    from benchmarks.upsampling_ablation import keep_hand_written

    path = tmp_path / "r.md"
    assert keep_hand_written(path, "# T\n\n| table v1 |\n") == "# T\n\n| table v1 |\n"
    path.write_text("# T\n\n| table v1 |\n\n## Conclusion (by hand)\n\nUnpooling wins.\n")
    assert keep_hand_written(path, "# T\n\n| table v2 |\n") == (
        "# T\n\n| table v2 |\n\n## Conclusion (by hand)\n\nUnpooling wins.\n")
