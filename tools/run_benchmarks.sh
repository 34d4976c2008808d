#!/usr/bin/env bash
# Issue 14's benchmark (configs/bench_fashion_mnist.cfg, test images): the
# main suite's headline pairs at 70% and 90% first (C-SAM and tfmot
# magnitude pruning, layer-wise and global, 3 seeds), then the same pairs
# at 50% (the goal's third point), then the rest of the main suite, then
# the 90% ablation suite, then the structured suite (3 runs; its v1 table
# predates BatchNorm in the search and the recalibration). Finished runs
# are skipped; each finished run's record goes to $RECORDS, which is
# committed, so a new machine restores the finished runs instead of
# repeating them.
#
# Many hours on 2 CPU cores: run it in the background, in its own process
# group, from a clone (editing the code a TensorFlow run imports breaks it):
#   setsid nohup tools/run_benchmarks.sh > bench.log 2>&1 < /dev/null &
# and commit $RECORDS now and then. Tables afterwards: README, Benchmarks.
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WORKDIR=${WORKDIR:-runs/bench_v2}
RECORDS=${RECORDS:-docs/bench_records/v2}
COMMON=(--flagfile=configs/bench_fashion_mnist.cfg --workdir="$WORKDIR"
        --records_dir="$RECORDS" --benchmarks_md= --figures_dir="$WORKDIR/fig")
status=0
"$PY" -m csam_tf.experiments --suite=main_v2 "${COMMON[@]}" \
  --methods=dense,csam,magnitude,csam-global,magnitude-global \
  --sparsities=0.7,0.9 || status=1
"$PY" -m csam_tf.experiments --suite=main_v2 "${COMMON[@]}" \
  --methods=dense,csam,magnitude,csam-global,magnitude-global \
  --sparsities=0.5 || status=1
"$PY" -m csam_tf.experiments --suite=main_v2 "${COMMON[@]}" || status=1
"$PY" -m csam_tf.experiments --suite=ablation "${COMMON[@]}" || status=1
"$PY" -m csam_tf.experiments --suite=structured "${COMMON[@]}" || status=1
exit $status
