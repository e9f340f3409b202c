#!/usr/bin/env bash
# Accuracy of an INT8-quantized classifier on a TSV dev set, for every
# calibrator and both executions (docs/accuracy.md was made with this):
#
#   scripts/accuracy_table.sh                 # models/sst2-bert-mini, 872 SST-2 dev sentences
#   MODEL=... CALIB=train.tsv DEV=dev.tsv SAMPLES=512 scripts/accuracy_table.sh
#
# Calibration uses CALIB (training data; never DEV). Prints a Markdown table:
# accuracy and its change vs fp32 in points, native (int8 kernels) and
# simulated (fp32 QDQ); and, label free, how closely the native model follows
# fp32 on HELDOUT (the last 2000 rows of CALIB by default, so choosing a
# default recipe never looks at DEV): predictions that change and the relative
# L2 error of the logits.
set -euo pipefail

OCTET=${OCTET:-build/bin/octet}
MODEL=${MODEL:-models/sst2-bert-mini}
CALIB=${CALIB:-data/sst2/train.tsv}
DEV=${DEV:-data/sst2/dev.tsv}
SAMPLES=${SAMPLES:-256}
THREADS=${THREADS:-2}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
if [[ -z "${HELDOUT:-}" ]]; then
  HELDOUT="$WORK/heldout.tsv"
  { head -n 1 "$CALIB"; tail -n 2000 "$CALIB"; } > "$HELDOUT"
fi

# "<correct> <accuracy> <seconds>" of one eval.
eval_model() {
  "$OCTET" eval "$1" --data "$DEV" --threads "$THREADS" --json "${@:2}" | jq -r '"\(.correct) \(.accuracy) \(.seconds)"'
}

read -r fp32_correct fp32_acc fp32_s < <(eval_model "$MODEL")
points() { awk -v a="$1" -v b="$fp32_acc" 'BEGIN { printf "%+.2f", 100 * (a - b) }'; }
pct() { awk -v a="$1" 'BEGIN { printf "%.2f", 100 * a }'; }

echo "| recipe | calibrator | native acc (correct) | native vs fp32 | simulated acc (correct) | simulated vs fp32 | held-out changed preds (native) | held-out logit error (native) |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
echo "| fp32 | - | $(pct "$fp32_acc") ($fp32_correct) | - | - | - | - | - |"

row() {
  local label=$1 calibrator=$2
  shift 2
  local out="$WORK/q"
  read -r changed rows err < <("$OCTET" quantize "$MODEL" -o "$out" --force --samples "$SAMPLES" --threads "$THREADS" \
    --compare "$HELDOUT" --compare-samples 2000 --json "$@" |
    jq -r '.compare.native | "\(.changed_predictions) \(.rows) \(.relative_error)"')
  read -r nc na _ < <(eval_model "$out" --exec native)
  read -r sc sa _ < <(eval_model "$out" --exec simulated)
  echo "| $label | $calibrator | $(pct "$na") ($nc) | $(points "$na") | $(pct "$sa") ($sc) | $(points "$sa") | $changed / $rows | $(printf '%.4f' "$err") |"
}

row "int8 static" "minmax" --calib "$CALIB" --calibrator minmax
row "int8 static" "ema(0.9)" --calib "$CALIB" --calibrator ema
row "int8 static" "percentile 99.9" --calib "$CALIB" --calibrator percentile --percentile 99.9
row "int8 static (default)" "percentile 99.99" --calib "$CALIB" --calibrator percentile --percentile 99.99
row "int8 static" "percentile 99.999" --calib "$CALIB" --calibrator percentile --percentile 99.999
row "int8 static" "entropy" --calib "$CALIB" --calibrator entropy
row "int8 static" "mse" --calib "$CALIB" --calibrator mse
row "int8 static, affine act." "percentile 99.99" --calib "$CALIB" --affine
row "int8 static, per-tensor W" "percentile 99.99" --calib "$CALIB" --per-tensor
row "int8 static + attn/residual/norm sites" "percentile 99.99" --calib "$CALIB" --quantize-attention --quantize-residual --quantize-norm
row "int8 dynamic" "- (per token)" --recipe int8-dynamic
