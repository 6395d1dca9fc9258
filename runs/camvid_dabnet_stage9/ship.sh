#!/usr/bin/env bash
# Ship stage 9 once epoch 24 has ended (issue 31). From the repository root:
#     bash runs/camvid_dabnet_stage9/ship.sh runs/camvid_dabnet_stage9/last.keras saved_models/camvid_dabnet/6
# Stage 6's release script with stage 9's preset card: step 1 evaluates the protocol's model on test, once,
# and stops unless single-scale mIoU >= 60; a third argument N makes it a dry run on N val images.
set -euo pipefail
export CARD_PROTOCOL="the papers' protocol in four stages fixed in advance, each ending on its last EMA weights: \
80 epochs (stage 6), 50 epochs distilling stage 6 with the TTA flip,1,2.75 from soft labels cached once per \
training image (stage 7), 40 epochs with the stride-4 skip and the same soft labels (stage 8), 24 epochs \
distilling stage 8 with the same TTA (stage 9); test evaluated once per stage (58.67, 59.19, 59.93, then this \
model)"
export CARD_TRAIN_CONFIG=configs/camvid_dabnet_stage9.yaml
export CARD_WEIGHTS_SOURCE="runs/camvid_dabnet_stage9/last.keras (epoch 24, EMA 0.999 weights, no optimizer state)"
exec bash "$(dirname "$0")/../camvid_dabnet_stage6/ship.sh" "$@"
