"""The upsampling/dilation ablation command: quick run end to end, resume, report text."""

import json
import re
from pathlib import Path

import pytest

from benchmarks import upsampling_ablation as ua

ALL = [f"segnet_basic_{m}" for m in ua.UPSAMPLING] + [f"deeplab_v3_os{s}" for s in ua.OUTPUT_STRIDES]


def _table_rows(text):
    """{variant name: its Markdown table line} of a report, in table order."""
    return {m.group(1): m.group(0) for m in re.finditer(r"^\| \w+ \| (\w+): .*$", text, re.M)}


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
    assert (quick.data, quick.input_size, quick.epochs, quick.steps_per_epoch) == ("synthetic", (32, 32), 1, 1)
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


# The quick run trains three variants of the upsampling group: every step of the command (train,
# evaluate, time, table, ranking, conclusion, archive) at a fraction of the seven variants' cost.
# Dilation variants go through the same steps with other model arguments; the untrained check below
# covers what differs (stride, cost, weights), tests/models/test_zoo trains DeepLab V3.
QUICK = ["segnet_basic_unpool", "segnet_basic_transposed", "segnet_basic_bilinear"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ablation")
    work, report = root / "work", root / "report.md"
    ua.main(["--quick", "--workdir", str(work), "--output", str(report), "--variants", ",".join(QUICK)])
    return work, report


def test_dilation_variants_differ_in_stride_and_cost_as_the_table_says():
    from kseg.layers import receptive_field
    from kseg.models import flops

    args = ua.parse_args(["--quick"])
    dilation = [v for v in ua.variants(args) if v.group == "dilation"]
    assert [v.name for v in dilation] == [f"deeplab_v3_os{s}" for s in ua.OUTPUT_STRIDES]
    built = [ua.timing_model(dict(model=v.model, num_classes=5, model_kwargs=v.model_kwargs)) for v in dilation]
    assert [receptive_field(m)[1] for m in built] == list(ua.OUTPUT_STRIDES)
    costs = [flops(m, (*args.input_size, 3)) for m in built]
    assert costs[0] < costs[1] < costs[2], costs  # os32 < os16 < os8
    assert len({m.count_params() for m in built}) == 1  # dilation adds no weights
    segnets = {v.name: ua.timing_model(dict(model=v.model, num_classes=5, model_kwargs=v.model_kwargs))
               for v in ua.variants(args) if v.group == "upsampling"}
    # Interpolation and unpooling have no weights: the three decoders count the same.
    assert len({segnets[f"segnet_basic_{m}"].count_params() for m in ("unpool", "bilinear", "nearest")}) == 1


@pytest.mark.slow
def test_quick_run_writes_a_table_with_every_variant(quick_run):
    work, report = quick_run
    text = report.read_text()
    rows = _table_rows(text)
    assert list(rows) == QUICK
    results = {name: json.loads((work / name / "result.json").read_text()) for name in QUICK}
    params = {name: r["params"] for name, r in results.items()}
    # Only the transposed decoder has weights in its upsampler: 4 stages x (4*4*f*f + f) at f filters.
    f = ua.parse_args(["--quick"]).segnet_filters
    assert params["segnet_basic_transposed"] - params["segnet_basic_unpool"] == 4 * (16 * f * f + f)
    for name, r in results.items():
        # The NumPy evaluation at the run size agrees with fit's own val mIoU of the kept checkpoint.
        assert r["val_miou"] == pytest.approx(r["fit_val_miou"], abs=2e-3), name
        assert 0.0 <= r["boundary_miou"] <= 1.0 and r["gflops"] > 0
        assert f"| {r['params']:,} |" in rows[name]
    assert params["segnet_basic_bilinear"] == params["segnet_basic_unpool"]
    assert "## What the numbers show" in text and "**Upsampling**: by val mIoU" in text
    assert "**Dilation**" not in text  # no dilation rows, no sentence about them


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


@pytest.mark.slow
def test_archive_beside_the_report_holds_every_row_and_rebuilds_each_architecture(quick_run):
    work, report = quick_run
    archived = json.loads(ua.archive_path(report).read_text())["results"]
    assert [r["name"] for r in archived] == QUICK
    for r in archived:
        assert r == json.loads((work / r["name"] / "result.json").read_text())
        # Timing builds the architecture afresh: it must be the trained one.
        assert ua.timing_model(r).count_params() == r["params"], r["name"]
    assert f"Every row's numbers are in `{ua.archive_path(report).as_posix()}`" in report.read_text()


def _archived(name, settings, **extra):
    """A finished quick-size result as the archive stores it (tiny SegNet, cheap to time)."""
    return dict(name=name, group="upsampling", label=name, model="segnet_basic", num_classes=3,
                model_kwargs=dict(filters=4, kernel_size=3, stages=2, upsampling="bilinear"),
                params=1, gflops=0.01, val_miou=0.5, boundary_miou=0.25, full_res_val_miou=0.4,
                receptive_field=10, rf_stride=1, best_epoch=1, train_seconds=60.0, finished="2026-11-25",
                settings=settings, **extra)


def test_rerun_without_the_run_folder_reuses_the_archive_and_keeps_rows_it_did_not_show(tmp_path, monkeypatch):
    args = ["--quick", "--timing-rounds", "1", "--workdir", str(tmp_path / "empty"), "--output", str(tmp_path / "r.md")]
    settings = ua.settings_of(ua.parse_args(args))
    other = dict(settings, seed=7)
    ua.write_archive(tmp_path / "r.json", [
        _archived("segnet_basic_unpool", settings, note="Rebuilt by hand"),
        _archived("segnet_basic_nearest", settings),
        _archived("segnet_basic_bilinear", other),
    ], {})
    monkeypatch.setattr(ua, "run_variant", lambda *a: pytest.fail("an archived variant was retrained"))
    ua.main(args + ["--variants", "segnet_basic_unpool"])
    text = (tmp_path / "r.md").read_text()
    assert "| upsampling | segnet_basic_unpool: segnet_basic_unpool | 1 | 0.01 |" in text
    assert "| 50.0 | 25.0 | 40.0 | 10 / 1 | 1 | 1.0 |" in text and "segnet_basic_nearest" not in text
    assert "- Trained: 2026-11-25 (segnet_basic_unpool). Rebuilt by hand." in text
    kept = json.loads((tmp_path / "r.json").read_text())["results"]
    # The row this run did not show stays archived; the one with other settings is dropped.
    assert [r["name"] for r in kept] == ["segnet_basic_unpool", "segnet_basic_nearest"]


def test_an_unreadable_archive_is_a_clear_error_naming_it(tmp_path):
    path = tmp_path / "r.json"
    path.write_text('{"results": [{"label": "no name"}]}')
    with pytest.raises(ValueError, match=r"r\.json is not an ablation results archive \(KeyError"):
        ua.load_archive(path, ua.parse_args(["--quick"]))
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not an ablation results archive"):
        ua.load_archive(path, ua.parse_args(["--quick"]))
    assert ua.load_archive(tmp_path / "absent.json", ua.parse_args(["--quick"])) == {}


def test_provenance_groups_rows_by_day_and_appends_their_notes():
    rows = [dict(name="a", finished="2026-12-01"), dict(name="b", finished="2026-11-25", note="N."),
            dict(name="c", finished="2026-11-25", note="N."), dict(name="d")]
    assert ua.provenance(rows) == "2026-11-25 (b, c), 2026-12-01 (a), date unknown (d). N"


def test_the_committed_report_has_all_seven_rows_and_agrees_with_its_archive():
    report = Path(ua.DEFAULT_OUTPUT)
    text = report.read_text()
    archived = {r["name"]: r for r in json.loads(ua.archive_path(report).read_text())["results"]}
    command = re.search(r"by `python -m benchmarks.upsampling_ablation (.*?)`", text).group(1).split()
    settings = ua.settings_of(ua.parse_args(command))
    rows = _table_rows(text)
    assert list(rows) == ALL == list(archived)
    for name, r in archived.items():
        assert r["settings"] == settings, name
        cells = f"| {r['params']:,} | {r['gflops']:.2f} |"
        scores = f"| {100 * r['val_miou']:.1f} | {100 * r['boundary_miou']:.1f} | {100 * r['full_res_val_miou']:.1f} |"
        assert cells in rows[name] and scores in rows[name], name
    # The hand-written conclusion speaks about every output stride the table has.
    conclusion = text[text.index(ua.HAND_WRITTEN):]
    assert "output stride 8" in conclusion and "not measured" not in conclusion
