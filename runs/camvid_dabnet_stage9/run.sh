#!/usr/bin/env bash
# Stage 9 end to end, from the repository root: train (resumes from backup/ after the last finished epoch),
# then ship.sh (test once; ships saved_models/camvid_dabnet/6 only if single-scale >= 60).
#     nohup bash runs/camvid_dabnet_stage9/run.sh > runs/camvid_dabnet_stage9/run.log 2>&1 &
set -euo pipefail
[ -f runs/camvid_dabnet_stage8/last.keras ] || git show 7bb02c1:runs/camvid_dabnet_stage9/warm_start.keras > runs/camvid_dabnet_stage8/last.keras
# the cache command skips the images already cached, so an interrupted cache is completed, a complete one kept
python -m pipelines.teacher_cache \
    --teacher runs/camvid_dabnet_stage8/last.keras --tta flip,1,2.75 --data camvid:../shared/data/camvid \
    --split trainval --output runs/camvid_dabnet_stage9/teacher_cache
python -m pipelines.train --config configs/camvid_dabnet_stage9.yaml
bash runs/camvid_dabnet_stage9/ship.sh runs/camvid_dabnet_stage9/last.keras saved_models/camvid_dabnet/6
