"""Figure 1: kseg DeepLabV3+ against its peers, same job, one process.

Job: DeepLabV3+ with a ResNet-50-class backbone, random init, 256x256 RGB,
batch 4, 12 classes, float32, CPU. Training images/s (``train_on_batch``
steady state, Adam, sparse cross-entropy) and inference images/s
(``predict_on_batch``), measured interleaved after warm-up. Peers are built
from constructor arguments (their presets need the internet):

* keras-hub ``DeepLabV3ImageSegmenter`` on ``DeepLabV3Backbone`` (V3+
  configuration from its docstring: ``ResNetBackbone`` ResNet-50 arguments,
  ASPP on ``P5``, x8 upsampling, ``low_level_feature_key="P2"``).
* keras-cv ``DeepLabV3Plus`` on ``ResNetV2Backbone`` (ResNet-50 V2 arguments).

kseg runs in three configurations in the same interleaved loop (``KSEG``):
the paper's (output stride 16, two 3x3 decoder convs; kseg's default), the
peers' output stride 32 with the paper decoder, and output stride 32 with
the V3+ paper's depthwise-separable ASPP and decoder convs.

Then kseg's speed levers, each measured side by side with its baseline:
XLA ``jit_compile`` (train and predict), batch norm folded into the
convolutions for inference (``kseg.export.fold_batchnorm``) and
``mixed_bfloat16`` (train and predict, with the logit difference it causes).

Run: ``python -m benchmarks.peers [--quick] [--no-append]``.
"""

from __future__ import annotations

import functools
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import _common as C  # noqa: E402

SIZE, BATCH, CLASSES = 256, 4, 12
RESNET50_STAGES = dict(filters=[64, 128, 256, 512], blocks=[3, 4, 6, 3], strides=[1, 2, 2, 2])


# The peers' ASPP: rates 6/12/18 on the stride-32 features.
PEER_RATES = (6, 12, 18)
# name -> (what it is, deeplab_v3_plus kwargs). The first one carries the
# speed levers and the headline ratio.
KSEG = {
    "kseg paper": ("output stride 16, rates 6/12/18, two 3x3 decoder convs at stride 4 (the paper; kseg's "
                   "default)", dict(output_stride=16)),
    "kseg OS32": ("output stride 32, rates 6/12/18 (as keras-hub / keras-cv), paper decoder (two 3x3 convs; "
                  "the peers use one 1x1): the closest match to the peers' job",
                  dict(output_stride=32, aspp_rates=PEER_RATES)),
    "kseg OS32 separable": ("output stride 32, rates 6/12/18, depthwise-separable ASPP branches and decoder "
                            "convs (the V3+ paper's separable form): the peers' output stride, but a lighter "
                            "network than theirs (fewer FLOPs and parameters)",
                            dict(output_stride=32, aspp_rates=PEER_RATES, separable=True)),
}
KSEG_PAPER = next(iter(KSEG))


def build_kseg(**kwargs):
    """kseg ``deeplab_v3_plus`` ResNet-50 for the job; ``kwargs`` override the paper configuration."""
    import kseg.models

    config = dict(KSEG[KSEG_PAPER][1], **kwargs)
    return kseg.models.build(
        "deeplab_v3_plus", num_classes=CLASSES, input_shape=(SIZE, SIZE, 3), backbone="resnet50", **config,
    )


def build_keras_hub():
    import keras_hub

    encoder = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[7],
        stackwise_num_filters=RESNET50_STAGES["filters"], stackwise_num_blocks=RESNET50_STAGES["blocks"],
        stackwise_num_strides=RESNET50_STAGES["strides"], block_type="bottleneck_block",
        image_shape=(SIZE, SIZE, 3),
    )
    backbone = keras_hub.models.DeepLabV3Backbone(
        image_encoder=encoder, spatial_pyramid_pooling_key="P5", upsampling_size=8,
        dilation_rates=[6, 12, 18], low_level_feature_key="P2", image_shape=(SIZE, SIZE, 3),
    )
    return keras_hub.models.DeepLabV3ImageSegmenter(backbone=backbone, num_classes=CLASSES)


def build_keras_cv():
    import keras_cv

    backbone = keras_cv.models.ResNetV2Backbone(
        stackwise_filters=RESNET50_STAGES["filters"], stackwise_blocks=RESNET50_STAGES["blocks"],
        stackwise_strides=RESNET50_STAGES["strides"], include_rescaling=True, block_type="block",
        input_shape=(SIZE, SIZE, 3),
    )
    return keras_cv.models.DeepLabV3Plus(backbone=backbone, num_classes=CLASSES)


# name -> (builder, outputs are logits?); keras-cv ends in a softmax.
PEERS = {
    **{name: (functools.partial(build_kseg, **kwargs), True) for name, (_, kwargs) in KSEG.items()},
    "keras-hub": (build_keras_hub, True),
    "keras-cv": (build_keras_cv, False),
}


def batch(seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, (BATCH, SIZE, SIZE, 3)).astype("float32")
    masks = rng.integers(0, CLASSES, (BATCH, SIZE, SIZE)).astype("int32")
    return images, masks


def compile_for_training(model, from_logits, jit_compile=False):
    model.compile(
        optimizer=keras.optimizers.Adam(1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
        metrics=[],  # keras-hub's "auto" adds an accuracy that breaks on [B, H, W] masks
        jit_compile=jit_compile,
    )
    return model


def steps(model, images, masks):
    """(train step, predict step) callables on one fixed batch."""
    return (lambda: model.train_on_batch(images, masks)), (lambda: model.predict_on_batch(images))


def model_flops(model):
    """FLOPs per image of the frozen inference graph (TF profiler, all ops),
    the same count for every peer."""
    from benchmarks.roofline import profiler_flops

    try:
        return profiler_flops(model, (SIZE, SIZE, 3))
    except Exception:  # a graph the profiler cannot freeze: report n/a, not a guess
        return None


def _rates(seconds):
    return {name: BATCH / s for name, s in seconds.items()}


def _with_policy(policy, fn):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        return fn()
    finally:
        keras.config.set_dtype_policy(previous)


def compare_peers(settings, images, masks, log=print):
    """Build every peer that imports, time train/predict interleaved.

    Returns ``(rows, missing, models)``; rows: dict name -> {params, flops,
    train, infer} (images/s); missing: dict name -> reason.
    """
    models, missing, train, infer = {}, {}, {}, {}
    for name, (builder, from_logits) in PEERS.items():
        try:
            keras.utils.set_random_seed(0)
            model = compile_for_training(builder(), from_logits)
        except ImportError as error:
            missing[name] = f"not importable ({error})"
            continue
        except Exception as error:  # a peer that cannot be built is reported, the rest still runs
            missing[name] = f"failed to build: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
            continue
        models[name] = model
        train[name], infer[name] = steps(model, images, masks)
        log(f"  built {name}: {model.count_params() / 1e6:.2f} M params")
    train_s = C.interleaved(train, warmup=settings["warmup"], rounds=settings["train_rounds"])
    infer_s = C.interleaved(infer, warmup=settings["warmup"], rounds=settings["infer_rounds"])
    rows = {
        name: {
            "params": model.count_params(), "flops": model_flops(model),
            "train": BATCH / train_s[name], "infer": BATCH / infer_s[name],
        }
        for name, model in models.items()
    }
    return rows, missing, models


def ratio_table(rows, peer_names):
    """kseg configuration -> ordered dict of ratios (train/infer vs each peer, then vs the fastest)."""
    table = {}
    for name in (n for n in KSEG if n in rows):
        row, ratios = rows[name], {}
        for peer in peer_names:
            ratios[f"train/{peer}"] = row["train"] / rows[peer]["train"]
            ratios[f"infer/{peer}"] = row["infer"] / rows[peer]["infer"]
        for mode in ("train", "infer"):
            ratios[f"{mode}/fastest"] = (row[mode] / max(rows[p][mode] for p in peer_names)) if peer_names else None
        table[name] = ratios
    return table


def measure_levers(settings, base, images, masks, log=print):
    """kseg levers, each against a baseline measured in the same interleaved loop.

    Returns a list of dicts: lever, mode, baseline, with_lever (img/s), note.
    """
    weights = base.get_weights()

    def clone(policy="float32", jit=False):
        model = _with_policy(policy, build_kseg)
        model.set_weights(weights)
        return compile_for_training(model, True, jit_compile=jit)

    levers = []

    def record(lever, mode, candidates, note=""):
        rounds = settings["train_rounds"] if mode == "train" else settings["infer_rounds"]
        start = time.perf_counter()
        rates = _rates(C.interleaved(candidates, warmup=settings["warmup"], rounds=rounds))
        baseline, with_lever = rates["baseline"], rates["lever"]
        levers.append({"lever": lever, "mode": mode, "baseline": baseline, "with_lever": with_lever, "note": note})
        log(f"  {lever} ({mode}): {baseline:.2f} -> {with_lever:.2f} img/s "
            f"(x{with_lever / baseline:.2f}) [{time.perf_counter() - start:.0f} s]")

    base_train, base_infer = steps(base, images, masks)

    # XLA: one jit-compiled twin with the same weights.
    xla = clone(jit=True)
    xla_train, xla_infer = steps(xla, images, masks)
    record("XLA jit_compile=True", "predict", {"baseline": base_infer, "lever": xla_infer})
    if settings["xla_train"]:
        record("XLA jit_compile=True", "train", {"baseline": base_train, "lever": xla_train})
    else:
        log("  XLA jit_compile=True (train): skipped in --quick (compiling takes minutes and ~5 GB)")
    del xla

    # Batch norm folded into the convolutions (inference only).
    from kseg.export.fold_batchnorm import fold_batchnorm, foldable_pairs

    folded = fold_batchnorm(base)
    folded.compile(jit_compile=False)
    reference = base.predict_on_batch(images)
    diff = float(np.max(np.abs(folded.predict_on_batch(images) - reference)))
    record(
        "batch norm folded into conv", "predict",
        {"baseline": base_infer, "lever": lambda: folded.predict_on_batch(images)},
        note=f"{len(foldable_pairs(base))} conv+BN pairs folded; max abs logit diff {diff:.2g}",
    )

    # mixed_bfloat16: same weights, bf16 compute, float32 logits.
    bf16 = clone(policy="mixed_bfloat16")
    low = np.asarray(bf16.predict_on_batch(images), np.float32)
    spread = float(np.std(reference))
    agree = float(np.mean(low.argmax(-1) == reference.argmax(-1)) * 100)
    bf16_note = (f"max abs logit diff {np.max(np.abs(low - reference)):.3g} (logit std {spread:.3g}), "
                 f"class agreement {agree:.1f}% (random init: small logit gaps, a worst case)")
    bf16_train, bf16_infer = steps(bf16, images, masks)
    record("mixed_bfloat16", "predict", {"baseline": base_infer, "lever": bf16_infer}, note=bf16_note)
    record("mixed_bfloat16", "train", {"baseline": base_train, "lever": bf16_train})

    # Both inference levers together: folded bf16 model.
    folded_bf16 = fold_batchnorm(bf16)
    folded_bf16.compile(jit_compile=False)
    record(
        "mixed_bfloat16 + folded batch norm", "predict",
        {"baseline": base_infer, "lever": lambda: folded_bf16.predict_on_batch(images)},
    )
    return levers


# XLA-compiling the ResNet-50 training step takes minutes and ~5 GB here:
# only the full run measures it.
QUICK = dict(warmup=1, train_rounds=2, infer_rounds=2, xla_train=False)
FULL = dict(warmup=2, train_rounds=10, infer_rounds=10, xla_train=True)


def run(quick=False, log=print):
    """Measure figure 1; returns (markdown section, summary dict)."""
    settings = QUICK if quick else FULL
    load_before = C.load()
    images, masks = batch()
    log(f"[peers] DeepLabV3+ R50 {SIZE}x{SIZE} batch {BATCH}, {CLASSES} classes, float32, settings {settings}")
    rows, missing, models = compare_peers(settings, images, masks, log=log)
    for name, reason in missing.items():
        log(f"  {name}: MISSING - {reason}")
    levers = measure_levers(settings, models[KSEG_PAPER], images, masks, log=log) if KSEG_PAPER in rows else []

    table_rows = []
    for name, row in rows.items():
        gflops = row["flops"] / 1e9 if row["flops"] else None
        achieved = row["flops"] * row["infer"] / 1e9 if row["flops"] else None
        table_rows.append((
            name, C.fmt(row["params"] / 1e6), C.fmt(gflops), C.fmt(row["train"]), C.fmt(row["infer"]),
            C.fmt(achieved, 1),
        ))
    for name, reason in missing.items():
        table_rows.append((name, "missing", "", "", "", reason))
    peer_names = [n for n in rows if n not in KSEG]
    ratios = ratio_table(rows, peer_names)
    body = [
        *C.table(("model", "params (M)", "GFLOPs/img", "train img/s", "infer img/s", "infer GFLOP/s"), table_rows),
        "",
        *[f"- {name}: {KSEG[name][0]}." for name in KSEG],
        "",
        "Ratios kseg / peer (> 1: kseg faster), every kseg configuration against every peer, same loop:",
        "",
        *C.table(("kseg configuration", *[f"{mode} / {p}" for p in peer_names for mode in ("train", "infer")],
                  "train / fastest peer", "infer / fastest peer"),
                 [(name, *[C.fmt(value) for value in r.values()]) for name, r in ratios.items()]),
        "",
        "Levers for kseg (each interleaved with its own float32, no-XLA baseline):",
        "",
        *C.table(("lever", "mode", "baseline img/s", "with lever img/s", "effect", "note"), [
            (lv["lever"], lv["mode"], C.fmt(lv["baseline"]), C.fmt(lv["with_lever"]),
             f"x{lv['with_lever'] / lv['baseline']:.2f}", lv["note"]) for lv in levers
        ]),
    ]
    kseg = rows.get(KSEG_PAPER)
    peers = [rows[n] for n in peer_names]
    summary = {"rows": rows, "missing": missing, "levers": levers, "ratios": ratios}
    if kseg and peers:
        fastest_train = max(r["train"] for r in peers)
        fastest_infer = max(r["infer"] for r in peers)
        summary["ratio_train"] = kseg["train"] / fastest_train
        summary["ratio_infer"] = kseg["infer"] / fastest_infer
        body += ["", f"kseg paper configuration / fastest peer: train x{summary['ratio_train']:.2f}, "
                 f"inference x{summary['ratio_infer']:.2f} (float32, no levers)."]
        for name in (n for n in KSEG if n != KSEG_PAPER and n in ratios):
            body += [f"{name} / fastest peer: train x{ratios[name]['train/fastest']:.2f}, "
                     f"inference x{ratios[name]['infer/fastest']:.2f} (float32, no levers)."]
        best_infer = max([kseg["infer"]] + [lv["with_lever"] / lv["baseline"] * kseg["infer"]
                                             for lv in levers if lv["mode"] == "predict"])
        best_train = max([kseg["train"]] + [lv["with_lever"] / lv["baseline"] * kseg["train"]
                                             for lv in levers if lv["mode"] == "train"])
        summary["ratio_train_best_lever"] = best_train / fastest_train
        summary["ratio_infer_best_lever"] = best_infer / fastest_infer
        body += [f"With kseg's best lever on the paper configuration (scaled by the lever's measured effect): train "
                 f"x{summary['ratio_train_best_lever']:.2f}, inference x{summary['ratio_infer_best_lever']:.2f}."]
    settings_text = (
        f"DeepLabV3+ ResNet-50 class, random init, {SIZE}x{SIZE}, batch {BATCH}, {CLASSES} classes, float32, "
        f"CPU, Adam + sparse cross-entropy; {settings['warmup']} warm-up step(s), then "
        f"{settings['train_rounds']} train / {settings['infer_rounds']} predict rounds interleaved, median. "
        "GFLOPs/img = float ops of each model's frozen inference graph (TF profiler, same count for all). "
        "Both peers run ASPP (plain 3x3, rates 6/12/18) at output stride 32 and a single 1x1 conv after the "
        "decoder concatenation; kseg's paper configuration (output stride 16, two 3x3 decoder convs) does "
        "about twice their FLOPs, so kseg is also measured at output stride 32 (paper decoder, and separable). "
        "Speed levers are measured on the paper configuration."
    )
    text = C.section("Figure 1: peers, DeepLabV3+ ResNet-50 (issue 8)", quick=quick, settings=settings_text,
                     load_before=load_before, body=body)
    return text, summary


def main(argv=None):
    C.figure_main(run, __doc__, "fewer timed rounds", argv)


if __name__ == "__main__":
    main()
