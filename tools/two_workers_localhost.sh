#!/usr/bin/env bash
# One process, then two MultiWorkerMirroredStrategy workers on this machine
# (TF_CONFIG on 127.0.0.1), with the same csam_tf.train flags and seed;
# prints each wall time. The README's multi-machine launch, on one host.
# usage: tools/two_workers_localhost.sh OUT_DIR [csam_tf.train flags...]
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 OUT_DIR [csam_tf.train flags...]" >&2; exit 2
fi
out=$1; shift
py=${PYTHON:-.venv/bin/python}
mkdir -p "$out"
read -r p0 p1 < <("$py" -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1", 0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
cluster="{\"worker\": [\"127.0.0.1:$p0\", \"127.0.0.1:$p1\"]}"

start=$EPOCHREALTIME
"$py" -m csam_tf.train "$@" --workdir="$out/one_process" >"$out/one_process.log" 2>&1
one=$(awk "BEGIN {print $EPOCHREALTIME - $start}")

start=$EPOCHREALTIME
for i in 0 1; do
  TF_CONFIG="{\"cluster\": $cluster, \"task\": {\"type\": \"worker\", \"index\": $i}}" \
    "$py" -m csam_tf.train "$@" --strategy=multi_worker \
    --workdir="$out/two_workers" >"$out/worker$i.log" 2>&1 &
  pids[$i]=$!
done
status=0
for i in 0 1; do wait "${pids[$i]}" || status=$?; done
two=$(awk "BEGIN {print $EPOCHREALTIME - $start}")
printf 'one process: %.1f s (CPU)\ntwo workers: %.1f s (CPU), exit %d\n' \
  "$one" "$two" "$status"
exit "$status"
