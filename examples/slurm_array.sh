#!/bin/bash
# Extract one split with a SLURM job array: array task K runs shard K/N.
#
#   mkdir -p logs
#   sbatch --array=0-15 examples/slurm_array.sh                      # N = 16 shards
#   CONFIG=configs/tiny_k400_val.yaml sbatch --array=0-15 examples/slurm_array.sh
#
# Every task reads the same config and writes into the same target folder on
# a shared filesystem.  A clip's shard is a hash of its "<class>/<clip>" name
# only, so the N shards never overlap, together cover every clip, and adding
# clips later never moves existing ones to another shard.  Each shard keeps
# its own records beside the split folder (train.manifest.shard-3-of-16.jsonl,
# train.failures.shard-3-of-16.jsonl) and its own temp area, so tasks never
# touch each other's files.
#
# Resuming: submit the same array again; finished clips are skipped (every
# shard's manifest is read).  Extra k400frames options go in ARGS (the same
# name the Makefile uses; the older EXTRA_ARGS still works), e.g. to redo only
# the clips that failed:  ARGS=--retry-failed sbatch --array=0-15 examples/slurm_array.sh
# To resubmit only some tasks, keep N by passing it:
#   sbatch --array=3,7 --export=ALL,SHARDS=16 examples/slurm_array.sh
# Each task holds a lock on its target and shard for as long as it runs: if
# you resubmit an array that is still running, each duplicate task exits 2 at
# once, naming the task that holds its shard, and the running one goes on.
# Afterwards, one unsharded `k400frames extract --config ...` (it skips
# everything) or `k400frames verify --config ...` summarises the whole split.
# With `store: lmdb` each task writes its own train.shard-K-of-N.lmdb; that
# unsharded extract (or `k400frames merge --config ...`) first merges them
# into train.lmdb, the one store the lists point at.
#
# Exit status per task: 0 all done, 1 some clips failed (see the failures
# file), 2 config or usage error, 130 stopped (scancel or the time limit sends
# SIGTERM; the task stops cleanly and a resubmission resumes it).
#
#SBATCH --job-name=k400frames
#SBATCH --array=0-15
#SBATCH --cpus-per-task=8
#SBATCH --mem=8G
#SBATCH --time=04:00:00
#SBATCH --output=logs/k400frames-%A_%a.out

set -euo pipefail

# Run from the project folder so the config's relative paths resolve the same
# way in every task (or use absolute paths in the config).
cd "${SLURM_SUBMIT_DIR:-.}"

CONFIG=${CONFIG:-configs/tiny_k400_train.yaml}
# The same environment on every node: activate a virtualenv that lives on the
# shared filesystem, so all tasks run the same k400frames and the same ffmpeg
# (the one bundled with imageio-ffmpeg, or set K400FRAMES_FFMPEG / the config
# key `ffmpeg` to one path).  Different ffmpeg builds may encode other bytes.
VENV=${VENV:-.venv}
if [[ ! -f "$VENV/bin/activate" ]]; then
    echo "no virtualenv at $VENV (from $(pwd)): run 'make install' there, or set VENV" >&2
    exit 2
fi
# shellcheck disable=SC1091
source "$VENV/bin/activate"

: "${SLURM_ARRAY_TASK_ID:?submit this script with sbatch --array=0-<N-1>}"
K=$SLURM_ARRAY_TASK_ID
N=${SHARDS:-$SLURM_ARRAY_TASK_COUNT}
if (( K < 0 || K >= N )); then
    echo "array index $K is not a shard of $N: use --array=0-$((N - 1)), or set SHARDS" >&2
    exit 2
fi

# One ffmpeg per CPU SLURM gave this task (not per core of the node).
WORKERS=${SLURM_CPUS_PER_TASK:-1}

echo "k400frames: shard $K/$N of $CONFIG on $(hostname) with $WORKERS workers"
# exec: SLURM sees k400frames's own exit status and signals.
# ARGS is split on spaces on purpose (several options); EXTRA_ARGS is its old name.
# shellcheck disable=SC2086
exec k400frames extract --config "$CONFIG" --shard "$K/$N" --set "workers=$WORKERS" ${ARGS:-${EXTRA_ARGS:-}}
