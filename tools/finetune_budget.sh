#!/bin/bash
# Diagnostic: does C-SAM's mask keep its lead over magnitude pruning's as
# fine-tuning goes on? From a finished C-SAM run of the search suite
# (validation certificates), fine-tunes its binary masks and the dense
# model's own one-shot magnitude masks (same allocation and sparsity: the
# run's flags with --mask_method=magnitude) for 1 epoch of N steps each,
# then certifies the first validation images as the run did.
#
#   tools/finetune_budget.sh RUN_DIR OUT_DIR [STEPS...]   (default 30 100 430)
#
# Resumable: a finished budget is skipped. Prints one line per run; the
# numbers are in OUT_DIR/<kind>_ft<steps>/report.json.
set -u
if [ $# -lt 2 ] || [ ! -f "$1/run.cfg" ] || [ ! -f "$1/mask/binary_masks.npz" ]; then
  echo "usage: $0 RUN_DIR OUT_DIR [STEPS...]: RUN_DIR is a finished C-SAM run (run.cfg, mask/binary_masks.npz)" >&2
  exit 2
fi
run=$(cd "$1" && pwd); out=$2; shift 2
steps_list=${*:-30 100 430}
python=$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/python
mkdir -p "$out"
# the run's report.json keeping only the stages named
keep_stages() {
  "$python" -c "import json, sys; r = json.load(open(sys.argv[1])); \
r['stages'] = {k: v for k, v in r['stages'].items() if k in sys.argv[3:]}; \
json.dump(r, open(sys.argv[2], 'w'), indent=1)" "$run/report.json" "$@"
}
for steps in $steps_list; do
  for kind in csam magnitude; do
    w=$out/${kind}_ft$steps
    if [ -f "$w/report.json" ] && grep -q '"certify"' "$w/report.json"; then
      echo "$w: finished earlier"; continue
    fi
    mkdir -p "$w"
    [ -d "$w/pretrain" ] || cp -r "$run/pretrain" "$w/"
    sed -e "s#^--workdir=.*#--workdir=$w#" -e 's#^--finetune_epochs=.*#--finetune_epochs=1#' \
      "$run/run.cfg" > "$w.cfg"
    echo "--finetune_steps_per_epoch=$steps" >> "$w.cfg"
    if [ $kind = csam ]; then
      [ -d "$w/mask" ] || cp -r "$run/mask" "$w/"
      [ -f "$w/report.json" ] || keep_stages "$w/report.json" pretrain mask
      stages=finetune,certify
    else
      [ -f "$w/report.json" ] || keep_stages "$w/report.json" pretrain
      sed -i 's#^--mask_method=.*#--mask_method=magnitude#' "$w.cfg"
      stages=mask,finetune,certify
    fi
    "$python" -m csam_tf.train --flagfile="$w.cfg" --stages=$stages > "$w.log" 2>&1
    echo "$w: exit $?"
  done
done
