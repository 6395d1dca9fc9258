#!/usr/bin/env bash
# Stage 10 end to end, from the repository root: train (resumes from backup/ after the last finished epoch),
# then ship.sh (test once; ships saved_models/camvid_dabnet/6 only if single-scale >= 60).
#     nohup bash runs/camvid_dabnet_stage10/run.sh >> runs/camvid_dabnet_stage10/run.log 2>&1 &
set -euo pipefail
# the warm start (stage 8's last.keras) and the teacher (stage 6's last.keras) live in git history
[ -f runs/camvid_dabnet_stage8/last.keras ] || git show 7bb02c1:runs/camvid_dabnet_stage9/warm_start.keras > runs/camvid_dabnet_stage8/last.keras
[ -f runs/camvid_dabnet_stage6/last.keras ] || git show 2ac6aea:runs/camvid_dabnet_stage6/last.keras > runs/camvid_dabnet_stage6/last.keras
# the cache command skips the images already cached, so an interrupted cache is completed, a complete one kept
python -m pipelines.teacher_cache \
    --teacher runs/camvid_dabnet_stage6/last.keras --tta flip,1,2.75 --data camvid:../shared/data/camvid \
    --split trainval --output runs/camvid_dabnet_stage7/teacher_cache
python -m pipelines.train --config configs/camvid_dabnet_stage10.yaml
bash runs/camvid_dabnet_stage10/ship.sh runs/camvid_dabnet_stage10/last.keras saved_models/camvid_dabnet/6
