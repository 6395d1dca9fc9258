#!/usr/bin/env bash
# Ship stage 7 once epoch 50 has ended (issue 31). From the repository root:
#     bash runs/camvid_dabnet_stage7/ship.sh runs/camvid_dabnet_stage7/last.keras saved_models/camvid_dabnet/6
# Stage 6's release script with stage 7's preset card: step 1 evaluates the protocol's model on test, once,
# and stops unless single-scale mIoU >= 60; a third argument N makes it a dry run on N val images.
set -euo pipefail
export CARD_PROTOCOL="the papers' protocol: 80 epochs (stage 6) then 50 epochs distilling stage 6 with the TTA \
flip,1,2.75 from soft labels cached once per training image (stage 7), fixed in advance, EMA of the last weights, \
test evaluated once"
export CARD_TRAIN_CONFIG=configs/camvid_dabnet_stage7.yaml
export CARD_WEIGHTS_SOURCE="runs/camvid_dabnet_stage7/last.keras (epoch 50, EMA 0.999 weights, no optimizer state)"
exec bash "$(dirname "$0")/../camvid_dabnet_stage6/ship.sh" "$@"
