#!/usr/bin/env bash
# The objective suite (issue 32's validation sweep of the weights'
# objective, configs/bench_fashion_mnist.cfg, validation images): every
# planned run: the full pipeline with one transformed view at 70% first
# (its dense model before it), then 90% (the same pipeline there), then
# the rest of 70%. Finished runs are skipped;
# each finished run's record goes to $RECORDS (committed), so a new
# machine restores them instead of repeating them.
#
# Hours on 2 CPU cores: run it in the background, in its own process
# group, from a clone (editing the code a TensorFlow run imports breaks it):
#   setsid nohup tools/run_objective_v3.sh > objective.log 2>&1 < /dev/null &
# Tables: RECORDS=docs/bench_records/objective_v3 WORKDIR=<fresh folder> \
#   tools/tabulate_benchmarks.sh objective
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WORKDIR=${WORKDIR:-runs/objective}
RECORDS=${RECORDS:-docs/bench_records/objective_v3}
COMMON=(--suite=objective --flagfile=configs/bench_fashion_mnist.cfg
        --workdir="$WORKDIR" --records_dir="$RECORDS" --benchmarks_md=
        --figures_dir="$WORKDIR/fig")
status=0
"$PY" -m csam_tf.experiments "${COMMON[@]}" --methods=full_l5_m1_ft4 \
  --sparsities=0.7 || status=1
"$PY" -m csam_tf.experiments "${COMMON[@]}" --sparsities=0.9 || status=1
"$PY" -m csam_tf.experiments "${COMMON[@]}" || status=1
exit $status
