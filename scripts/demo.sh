#!/usr/bin/env bash
# Sets up, builds, and runs octet's main job on the built-in default model
# (models/sst2-bert-mini, a BERT trained on GLUE SST-2, shipped in the repo).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup.sh"
"$here/scripts/build.sh" >/dev/null
octet="$here/build/bin/octet"
model="$here/models/sst2-bert-mini"
dev="$here/data/sst2/dev.tsv"

echo "== octet doctor"
"$octet" doctor
echo
echo "== fp32 accuracy of $model on the SST-2 dev set (872 sentences)"
"$octet" eval "$model" --task glue --data "$dev"
echo
echo "== one sentence"
"$octet" run "$model" --text "a gorgeous, witty, seductive movie."
