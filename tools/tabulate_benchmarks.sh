#!/usr/bin/env bash
# Issue 14's tables from the committed records, no training: each named
# suite's BENCHMARKS.md section (and, for main_v2, docs/pca_vs_sparsity.png),
# then docs/bench_results.csv, every recorded run's row. Finished runs are
# restored from $RECORDS into $WORKDIR; runs not recorded yet are left out
# of the tables (each section says how many of its planned runs it has).
#   tools/tabulate_benchmarks.sh main_v2 [ablation] [structured]
#   RECORDS=docs/bench_records/v3 WORKDIR=runs/bench_v3 tools/tabulate_benchmarks.sh main
#   RECORDS=docs/bench_records/objective_v3 WORKDIR=runs/objective tools/tabulate_benchmarks.sh objective
#   FLAGFILE=configs/bench_vit.cfg RECORDS=docs/bench_records/vit_v3 WORKDIR=runs/bench_vit_v3 tools/tabulate_benchmarks.sh vit
# Name only the suites whose v2 runs have started: a suite named with no
# recorded run replaces its v1 table by an empty one.
set -e
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WORKDIR=${WORKDIR:-runs/bench_v2}
RECORDS=${RECORDS:-docs/bench_records/v2}
FLAGFILE=${FLAGFILE:-configs/bench_fashion_mnist.cfg}
if [ $# -eq 0 ]; then
  echo "usage: [RECORDS=... WORKDIR=...] tools/tabulate_benchmarks.sh SUITE ..." >&2
  exit 2
fi
# README's headline table comes from the main suite once README has its
# markers (<!-- BEGIN experiments --suite=main headline -->).
README_MD=
if grep -q "BEGIN experiments --suite=main headline" README.md; then
  README_MD=README.md
fi
for suite in "$@"; do
  "$PY" -m csam_tf.experiments --suite="$suite" \
    --flagfile="$FLAGFILE" --workdir="$WORKDIR" \
    --records_dir="$RECORDS" --tables_only --benchmarks_md=BENCHMARKS.md \
    --figures_dir=docs --readme_md="$README_MD" > /dev/null
done
# v2's rows are docs/bench_results.csv; other records' rows are named after
# their folder (docs/bench_results_v3.csv, ..._objective_v3.csv).
if [ "$RECORDS" = docs/bench_records/v2 ]; then
  RESULTS=docs/bench_results.csv
else
  RESULTS="docs/bench_results_$(basename "$RECORDS").csv"
fi
cp "$WORKDIR/results.csv" "$RESULTS"
echo "BENCHMARKS.md ($*), $RESULTS: $(($(wc -l < "$RESULTS") - 1)) runs"
