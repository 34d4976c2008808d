#!/usr/bin/env bash
# The v3 main suite (issue 32; configs/bench_fashion_mnist.cfg, test
# images), most telling runs first: at 90% and 70% for seeds 0 and 1, the
# full robust pipeline, the robust fine-tuning of the CE-trained model (is
# robust pre-training what costs the accuracy?) and tfmot as users run
# it; then seed 0 at 95% and 98% (does the mask matter there? C-SAM and
# magnitude masks under the same robust fine-tuning: one seed answers
# whether it is worth the other two); then seed 2 at 90% and 70% (the
# headline's third seed); then seeds 1 and 2 at 95% and 98%; then the ViT
# suite; then the rest (the CE-trained model's robust rows at 95% and 98%).
# Finished runs are skipped; each finished run's record goes to $RECORDS
# (committed), so a new machine restores them instead of repeating them.
# The CE dense models and tfmot's 70%/90% runs are v2's records (the same
# runs under the same flags).
#
# Many hours on 2 CPU cores: run it in the background, in its own process
# group, from a clone (editing the code a TensorFlow run imports breaks it):
#   setsid nohup tools/run_benchmarks_v3.sh > bench_v3.log 2>&1 < /dev/null &
# and commit $RECORDS now and then. Tables: tools/tabulate_benchmarks.sh.
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WORKDIR=${WORKDIR:-runs/bench_v3}
RECORDS=${RECORDS:-docs/bench_records/v3}
COMMON=(--suite=main --flagfile=configs/bench_fashion_mnist.cfg
        --workdir="$WORKDIR" --records_dir="$RECORDS" --benchmarks_md=
        --figures_dir="$WORKDIR/fig")
HEADLINE=dense,dense_robust,magnitude,csam-full,magnitude-full
HEADLINE+=,magnitude-global_robust,csam-global_robust
status=0
EXTREME=magnitude,csam-full,magnitude-full
headline() {  # seed
  "$PY" -m csam_tf.experiments "${COMMON[@]}" --seeds="$1" \
    --methods="$HEADLINE" --sparsities=0.9,0.7 || status=1
}
extreme() {  # seeds
  "$PY" -m csam_tf.experiments "${COMMON[@]}" --seeds="$1" \
    --methods="$EXTREME" --sparsities=0.95,0.98 || status=1
}
headline 0
headline 1
extreme 0
headline 2
extreme 1,2
# The ViT suite again (item 7: its weight rows at 70% fine-tuned on
# cross-entropy and on the robust objective, beside each other from the
# same dense model, 1 seed; configs/bench_vit.cfg), records of its own.
# Its channel rows are v2's (BENCHMARKS): the robust default does not
# change them.
"$PY" -m csam_tf.experiments --suite=vit --flagfile=configs/bench_vit.cfg \
  --methods=dense,csam,magnitude,csam-robust,magnitude-robust \
  --workdir="${VIT_WORKDIR:-runs/bench_vit_v3}" \
  --records_dir="${VIT_RECORDS:-docs/bench_records/vit_v3}" \
  --benchmarks_md= --figures_dir="${VIT_WORKDIR:-runs/bench_vit_v3}/fig" \
  || status=1
"$PY" -m csam_tf.experiments "${COMMON[@]}" || status=1
exit $status
