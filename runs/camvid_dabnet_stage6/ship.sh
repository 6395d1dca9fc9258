#!/usr/bin/env bash
# Ship stage 6 once epoch 80 has ended (issue 31). From the repository root:
#     bash runs/camvid_dabnet_stage6/ship.sh runs/camvid_dabnet_stage6/last.keras saved_models/camvid_dabnet/6
# Step 1 evaluates the protocol's model on test, once, and stops unless single-scale mIoU >= 60; step 5 stops
# before the TTA pass and the preset unless the int8 file is within 1.0 mIoU of the SavedModel on the whole split.
# A dry run (third argument N: N images, a few random calibration images) scores the val split instead and
# never looks at test:
#     bash runs/camvid_dabnet_stage6/ship.sh runs/camvid_dabnet_stage6/best.keras /tmp/dry/camvid_dabnet/6 8
# A later stage runs this script with its own preset card: CARD_PROTOCOL, CARD_TRAIN_CONFIG,
# CARD_WEIGHTS_SOURCE (and CARD_ARCHITECTURE, if set) replace stage 6's (see runs/camvid_dabnet_stage10/ship.sh);
# the preset's model_kwargs are the run's (config.json beside the model), and so is the card's architecture
# (a stride4_skip run's names the skip).
# A rerun keeps the files steps 2-3 already wrote (an interrupted ship goes on). Left by hand afterwards: git rm the previous version, the report/README/RESULTS tables, removing backup/
# and IN_PROGRESS (see README.md beside this file).
set -euo pipefail
M=$1; V=$2; LIMIT=${3:-}
DATA=camvid:../shared/data/camvid
RUN=$(dirname "$M")
SPLIT=test; [ -n "$LIMIT" ] && SPLIT=val
FIGURES=reports/camvid_dabnet_figures; [ -n "$LIMIT" ] && FIGURES=$RUN/dry_figures
MAX=(); [ -n "$LIMIT" ] && MAX=(--max-images "$LIMIT")
TTA=flip,1,2.75   # version 5's spec (chosen on val before this run), applied unchanged: val is training data now
log() { echo "== $(date +%T) $*"; }

log "1. $SPLIT once: $M"
python -m pipelines.evaluate --model "$M" --data $DATA --split $SPLIT --output "$RUN/eval_$SPLIT" "${MAX[@]}" | tail -18
python - "$RUN/eval_$SPLIT/report.json" <<'EOF'
import json, sys
miou = json.load(open(sys.argv[1]))["miou"]
print(f"single-scale mIoU {100 * miou:.2f}")
if miou < 0.60:
    sys.exit("below 60: not shipped (issue 31)")
EOF

BASE=$(dirname "$V")
log "2. SavedModel $V"
[ -f "$V/saved_model.pb" ] || python -m pipelines.export --model "$M" --name "$(basename "$BASE")" --base "$(dirname "$BASE")" --version "$(basename "$V")" | tail -3
log "3. TFLite fp32 / dynamic / int8"
[ -f "$V/model_fp32.tflite" ] || python -m pipelines.export --model "$M" --name model_fp32 --base "$V" --format tflite --input-size 360 480 | tail -3
[ -f "$V/model_dynamic.tflite" ] || python -m pipelines.export --model "$M" --name model_dynamic --base "$V" --format tflite --input-size 360 480 --quantize dynamic | tail -3
CAL=$DATA
if [ -n "$LIMIT" ]; then
  CAL=$RUN/dry_calibration.npy
  python -c "import numpy as np; np.save('$CAL', np.random.default_rng(0).integers(0, 255, (4, 360, 480, 3)).astype('uint8'))"
fi
[ -f "$V/model_int8.tflite" ] || python -m pipelines.export --model "$M" --name model_int8 --base "$V" --format tflite --input-size 360 480 --quantize int8 --data "$CAL" | tail -6

log "4. the SavedModel on $SPLIT (the report's figures; must equal step 1)"
python -m pipelines.evaluate --model "$V" --data $DATA --split $SPLIT --output "$FIGURES" --overlays 3 "${MAX[@]}" | tail -3
python - "$RUN" "$FIGURES" <<'EOF'
import json, sys
from kseg.inference import save_training_curves
run, figures = sys.argv[1:]
trained_on_val = json.load(open(f"{run}/config.json"))["train_split"] == "trainval"  # its val curve measures fit
save_training_curves(f"{run}/training_log.csv", f"{figures}/training_curves.png",
                     val_label="fit monitor (val images, trained on)" if trained_on_val else "val")
EOF

log "5. the TFLite files on the whole $SPLIT split"
L=(); [ -n "$LIMIT" ] && L=(--limit "$LIMIT" --rounds 2)
python -m benchmarks.quantization "$V/model_fp32.tflite" "$V/model_int8.tflite" "$V/model_dynamic.tflite" --data $DATA --split $SPLIT --json "$FIGURES/tflite.json" "${L[@]}" | tail -6
# The int8 gate comes before the TTA pass of step 6 (about 17 single passes over the split), which a model
# that must be fine-tuned with --qat first would redo anyway.
python - "$FIGURES/tflite.json" "$FIGURES/report.json" "$LIMIT" <<'EOF'
import json, sys
int8 = {r["file"].rsplit("/", 1)[-1]: r for r in json.load(open(sys.argv[1]))}["model_int8.tflite"]["miou"]
saved = 100 * json.load(open(sys.argv[2]))["miou"]
print(f"int8 {int8:.2f} vs SavedModel {saved:.2f}: {int8 - saved:+.2f}")
if abs(int8 - saved) > 1.0 and not sys.argv[3]:  # a dry run calibrates on random pixels: reported, not enforced
    sys.exit("int8 is not within 1.0 mIoU of the SavedModel: not shipped (issue 31); fine-tune with --qat first")
EOF

log "6. $SPLIT with the TTA spec fixed in advance ($TTA)"
python -m pipelines.evaluate --model "$M" --data $DATA --split $SPLIT --tta $TTA --output "$RUN/eval_${SPLIT}_tta" --overlays 0 "${MAX[@]}" | tail -3
cp "$RUN/eval_${SPLIT}_tta/report.json" "$FIGURES/report_tta.json"

log "7. preset"
python - "$M" "$V" "$FIGURES" <<'EOF'
import json, os, sys
import keras
import kseg.models
from kseg.models import presets
m, v, figures = sys.argv[1:]
model = keras.saving.load_model(m, safe_mode=True, compile=False)  # no optimizer state in the preset
report = json.load(open(f"{figures}/report.json"))
tta = json.load(open(f"{figures}/report_tta.json"))
rows = {r["file"].rsplit("/", 1)[-1]: r for r in json.load(open(f"{figures}/tflite.json"))}
int8, fp32, dynamic = rows["model_int8.tflite"], rows["model_fp32.tflite"], rows["model_dynamic.tflite"]
gap = int8["miou"] - 100 * report["miou"]  # step 5 stopped the release when |gap| > 1.0
old = kseg.models.preset_info("camvid_dabnet")
card = {key: old[key] for key in ("license", "input_size", "report")}
model_kwargs = json.load(open(f"{os.path.dirname(m)}/config.json"))["model_kwargs"]  # the run's own
skip = (f" and a stride-4 skip (a 1x1 convolution of stage 1's features added to the logits, "
        f"{model.get_layer('skip4_classifier').count_params():,} weights; not in the paper)"
        if model_kwargs.get("stride4_skip") else "")
architecture = (f"DABNet (Li et al., BMVC 2019) with ReLU instead of PReLU (int8-friendly){skip}: depthwise "
                "asymmetric bottlenecks, dilations 2 and 4/4/8/8/16/16, bilinear x8")
card.update(
    architecture=os.environ.get("CARD_ARCHITECTURE", architecture),
    parameters=model.count_params(),
    training_data="CamVid train+val (468 images at 360x480, SegNet layout), 11 classes, void ignored; "
                  + os.environ.get("CARD_PROTOCOL", "the papers' protocol: 80 epochs fixed in advance, EMA of the last "
                                                    "weights, test evaluated once"),
    test_miou=round(100 * report["miou"], 1), test_miou_tta=round(100 * tta["miou"], 1), tta="flip,1,2.75",
    int8=(f"model_int8.tflite (full integer, 200 calibration images): {int8['miou']:.2f} test mIoU on the whole "
          f"test split ({int8['images']} images) vs {100 * report['miou']:.2f} SavedModel "
          f"({gap:+.2f}; fp32 TFLite {fp32['miou']:.2f}), "
          f"{int8['latency_ms'] / fp32['latency_ms']:.2f}x the fp32 latency (ai-edge-litert, 2 threads, 360x480, "
          f"interleaved); model_dynamic.tflite: {dynamic['miou']:.2f}; see reports/quantization.md"),
    reproduce=f"python -m pipelines.evaluate --model {v} --data camvid:../shared/data/camvid --split test",
    train_config=os.environ.get("CARD_TRAIN_CONFIG", "configs/camvid_dabnet_stage6.yaml"),
    weights_source=os.environ.get("CARD_WEIGHTS_SOURCE",
                                  "runs/camvid_dabnet_stage6/last.keras (epoch 80, EMA 0.999 weights, no optimizer state)"),
)
folder = presets.write_preset(model, f"{v}/preset", name="camvid_dabnet", model_kwargs=model_kwargs,
                              class_names=report["class_names"], card=card)
print(json.dumps(card, indent=1))
EOF
ls -la "$V" "$V/preset" "$FIGURES"
log done
