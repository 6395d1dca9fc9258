#!/usr/bin/env bash
# Stage 8 end to end, from the repository root: train (resumes from backup/ after the last finished epoch),
# then ship.sh (test once; ships saved_models/camvid_dabnet/6 only if single-scale >= 60).
#     nohup bash runs/camvid_dabnet_stage8/run.sh > runs/camvid_dabnet_stage8/run.log 2>&1 &
set -euo pipefail
[ -f runs/camvid_dabnet_stage7/last.keras ] || { echo "runs/camvid_dabnet_stage7/last.keras is missing (git checkout it)"; exit 2; }
[ -f runs/camvid_dabnet_stage7/teacher_cache/index.json ] || python -m pipelines.teacher_cache \
    --teacher runs/camvid_dabnet_stage6/last.keras --tta flip,1,2.75 --data camvid:../shared/data/camvid \
    --split trainval --output runs/camvid_dabnet_stage7/teacher_cache
python -m pipelines.train --config configs/camvid_dabnet_stage8.yaml
bash runs/camvid_dabnet_stage8/ship.sh runs/camvid_dabnet_stage8/last.keras saved_models/camvid_dabnet/6
