#!/bin/bash
# Certifies finished v3 suite models on the VALIDATION split (first 200
# images, CC-Cert and binomial composite L2, the suite's settings), so
# that a choice between pipelines (which dense model the shipped one
# starts from) is made on validation images, not on the test tables.
# Usage: RUNS=/work/v3_runs OUT=docs/bench_records/v3_validation \
#   SPARSITY=70 SEED=0 tools/certify_on_validation.sh row [row ...]
# Each row's models are copied (the suite's workdir is never written);
# finished rows are skipped; OUT keeps report.json and the CSVs.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-/work/v3_runs}
OUT=${OUT:-docs/bench_records/v3_validation}
SPARSITY=${SPARSITY:-70}
SEED=${SEED:-0}
SCRATCH=${SCRATCH:-/tmp/certify_on_validation}
[ $# -gt 0 ] || { echo "error: name the rows to certify" \
  "(e.g. magnitude-full csam-full)" >&2; exit 2; }
for row in "$@"; do
  name=$row/sp$SPARSITY/seed$SEED
  src=$RUNS/$name
  [ -f "$src/report.json" ] || { echo "error: $src has no finished run;" \
    "check RUNS, SPARSITY and SEED" >&2; exit 2; }
  [ -f "$OUT/$name/report.json" ] && { echo "$name: done earlier"; continue; }
  dst=$SCRATCH/$name
  rm -rf "$dst"; mkdir -p "$dst"
  for f in checkpoints flags.json report.json pretrain mask finetune; do
    [ -e "$src/$f" ] && cp -r "$src/$f" "$dst/"
  done
  rm -rf "$dst/certify"
  # the stage reports of the copy keep the run's test accuracies; the
  # certify stage is replaced by the validation certificates
  .venv/bin/python -m csam_tf.certify --workdir="$dst" --model=pruned \
    --certificate=composite/L2/ccert/10 \
    --certificate=composite/L2/binomial/24 --num_images=200 \
    --nsamples=100 --delta=0.9 --eps=0.001 --batch_size=1000 \
    --seed="$SEED" --split=validation --full_bounds=true \
    > "$dst/certify.log" 2>&1
  mkdir -p "$OUT/$name/certify"
  cp "$dst"/certify/*.csv "$dst"/certify/*.settings.json "$OUT/$name/certify/"
  cp "$dst/report.json" "$dst/certify.log" "$OUT/$name/"
  echo "$name: $(tail -n 2 "$dst/certify.log" | tr -s ' ' | tr '\n' ';')"
done
