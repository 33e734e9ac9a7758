#!/usr/bin/env bash
# make test-slurm: run examples/slurm_array.sh, unmodified, on a real one-node
# Slurm cluster started here, and check its output byte for byte.
#
# 1. Installs Slurm and MUNGE from the distribution's packages when missing
#    (apt-get).  Without apt-get, or as a user other than root, it prints
#    one line and exits 0.
# 2. Starts munged, slurmctld and slurmd as children of this script, with a
#    slurm.conf, key, sockets, state and logs all in one temp dir, on free
#    ports: nothing of the system's own Slurm or MUNGE set-up is used or changed.
#    No cgroups (proctrack/linuxproc, task/none), so it runs in a container.
# 3. Makes a small sample of real H.264 clips, submits the script as a 3-task
#    job array (sbatch --wait), and checks: every task exits 0, one manifest
#    per shard, the merged tree equals a local unsharded run byte for byte,
#    `k400frames verify` passes, and a resubmission (with ARGS) skips everything.
# 4. Stops the daemons it started and removes the temp dir (KEEP=1 keeps it).
set -euo pipefail
cd "$(dirname "$0")/../.."
PROJECT=$(pwd)
PY=${PY:-$PROJECT/.venv/bin/python}
started=$(date +%s)
say() { echo "test-slurm: $*"; }

# slurmd starts jobs as their users, so it runs as root; so does apt-get.
if (( EUID != 0 )); then
    say "skipped: installing Slurm and running slurmd need root, and this is user $(id -un)"
    exit 0
fi
need=()
for cmd in sbatch slurmctld slurmd munged; do
    command -v "$cmd" >/dev/null || need+=("$cmd")
done
if (( ${#need[@]} )); then
    if ! command -v apt-get >/dev/null; then
        say "skipped: Slurm is not installed (${need[*]} missing) and apt-get is not available"
        exit 0
    fi
    say "installing slurm-wlm and munge with apt-get (${need[*]} missing) ..."
    # --no-install-recommends: the daemons and clients only, no docs or mail server.
    # Three tries: a mirror that hiccups once must not fail a CI run.
    installed=0
    for attempt in 1 2 3; do
        if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                --no-install-recommends slurm-wlm munge >/dev/null; then
            installed=1
            break
        fi
        say "apt-get failed (try $attempt of 3)"
        sleep $(( attempt * 10 ))
    done
    if (( ! installed )); then
        say "FAIL: apt-get could not install slurm-wlm and munge (see above)"
        exit 1
    fi
    say "installed in $(( $(date +%s) - started )) s"
fi

WORK=$(mktemp -d /tmp/k400frames-slurm.XXXXXX)
chmod 700 "$WORK"
PIDS=()
cleanup() {
    local status=$?
    if [[ -n "${SLURM_CONF:-}" ]]; then
        scancel --quiet --full --user="$(id -un)" 2>/dev/null || true
    fi
    # Only the daemons this script started, newest first, by their PIDs.
    for (( i = ${#PIDS[@]} - 1; i >= 0; i-- )); do
        kill "${PIDS[i]}" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if (( status != 0 )); then
        for log in "$WORK"/*.log "$WORK"/logs/*; do
            [[ -f "$log" ]] && { echo "---- $log"; tail -n 25 "$log"; }
        done
    fi
    if [[ -z "${KEEP:-}" ]]; then rm -rf "$WORK"; else say "kept $WORK"; fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() {  # wait_for SECONDS WHAT COMMAND...
    local seconds=$1 what=$2; shift 2
    for _ in $(seq $(( seconds * 10 ))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    say "FAIL: $what did not come up within $seconds s"; return 1
}

# --- MUNGE: a fresh key and a private socket -------------------------------
MUNGE_SOCKET=$WORK/munge.socket
head -c 1024 /dev/urandom >"$WORK/munge.key"
chmod 400 "$WORK/munge.key"
munged --foreground --force --key-file="$WORK/munge.key" --socket="$MUNGE_SOCKET" \
    --pid-file="$WORK/munged.pid" --log-file="$WORK/munged.log" --seed-file="$WORK/munged.seed" >>"$WORK/munged.log" 2>&1 &
PIDS+=($!)
wait_for 10 munged munge --socket="$MUNGE_SOCKET" --string=ping

# --- Slurm: one node with 2 CPUs, everything under $WORK ------------------
HOST=$(hostname -s)
USER_NAME=$(id -un)
mkdir -p "$WORK/state" "$WORK/spool" "$WORK/logs"
export SLURM_CONF=$WORK/slurm.conf
cat >"$SLURM_CONF" <<EOF
ClusterName=k400frames-test
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=$USER_NAME
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
# No cgroups: containers rarely let us create them.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
# sbatch --wait polls at most every MinJobAge/2 s (else up to every 32 s).
MinJobAge=4
NodeName=k400node NodeHostname=$HOST NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000 State=UNKNOWN
PartitionName=test Nodes=k400node Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -D -i -f "$SLURM_CONF" >>"$WORK/slurmctld.out" 2>&1 &
PIDS+=($!)
wait_for 30 slurmctld scontrol ping
slurmd -D -N k400node -f "$SLURM_CONF" >>"$WORK/slurmd.out" 2>&1 &
PIDS+=($!)
node_idle() { [[ $(sinfo --noheader --nodes=k400node --format=%t) == idle ]]; }
wait_for 30 "slurmd (node idle)" node_idle
say "cluster up ($HOST, 2 CPUs) after $(( $(date +%s) - started )) s"

# --- a small real sample, and the reference: one local, unsharded run ----
"$PY" - "$WORK/src" <<'EOF'
import sys
from pathlib import Path
from k400frames.sources.tree import shard_of
from k400frames.tools.synth import make_video
root = Path(sys.argv[1])
clips = [("abseiling", "--uWuXty1jw_000010_000020", 1.2, 30), ("zumba", "h_000000_000010", 0.3, 30),
         ("air drumming", "pal_000000_000010", 0.8, 25), ("air drumming", "o'brien_000000_000010", 0.6, 30),
         ("zumba", "100%_real.v2_000001_000011", 0.5, 30), ("zumba", "café_000000_000010", 0.5, 30)]
for cls, stem, seconds, fps in clips:
    make_video(root / cls / f"{stem}.mp4", seconds=seconds, fps=fps, size="96x72")
shards = {shard_of(f"{cls}/{stem}", 3) for cls, stem, _, _ in clips}
assert shards == {0, 1, 2}, f"every shard must have a clip, got {shards}"
EOF
cat >"$WORK/config.yaml" <<EOF
source: $WORK/src
target: $WORK/array/train
num_frames: 20
EOF
"$PROJECT/.venv/bin/k400frames" extract --config "$WORK/config.yaml" --set "target=$WORK/local/train" >/dev/null 2>&1

# --- the job array: the example script exactly as users submit it --------
# Command-line options override its #SBATCH lines (8 CPUs, 8G, logs/).
JOB=
submit() {  # submit ARRAY [EXPORTS]: waits for the array; sets JOB
    local out
    out=$(sbatch --wait --array="$1" --cpus-per-task=1 --mem=100M --time=10 --output="$WORK/logs/%A_%a.out" \
        --export=ALL,CONFIG="$WORK/config.yaml",VENV="$PROJECT/.venv"${2:+,$2} examples/slurm_array.sh) \
        || { say "FAIL: a task of job array $1 failed: $out"; return 1; }
    JOB=$(grep -o '[0-9]\+' <<<"$out" | head -n 1)
}
job_logs() { cat "$WORK/logs/${JOB}"_*.out; }

t0=$(date +%s)
submit 0-2
say "3-task job array finished in $(( $(date +%s) - t0 )) s"
job_logs | grep "^k400frames: shard" | sort
for k in 0 1 2; do
    [[ -s "$WORK/array/train.manifest.shard-$k-of-3.jsonl" ]] || { say "FAIL: no manifest for shard $k/3"; exit 1; }
done
if ! diff -r "$WORK/local/train" "$WORK/array/train" >/dev/null; then
    say "FAIL: the job array's tree differs from the local run:"; diff -rq "$WORK/local/train" "$WORK/array/train" || true
    exit 1
fi
frames=$(find "$WORK/array/train" -name 'frame_*.jpg' | wc -l)
[[ $frames == $(( 6 * 20 )) ]] || { say "FAIL: expected 120 frames, found $frames"; exit 1; }
"$PROJECT/.venv/bin/k400frames" verify --config "$WORK/config.yaml" >"$WORK/verify.out" \
    || { say "FAIL: verify: $(cat "$WORK/verify.out")"; cat "$WORK/verify.out"; exit 1; }

# Resubmitting the finished array resumes: every task finds its clips done.
submit 0-2
resumed=$(job_logs | grep -c "^clips: 0 extracted.*[1-9][0-9]* already done" || true)
(( resumed == 3 )) || { say "FAIL: the resubmitted tasks did work again:"; job_logs | grep "^clips:"; exit 1; }
# One task again, keeping N with SHARDS; ARGS reaches k400frames (nothing
# failed, so --retry-failed plans no clip at all).
submit 1 "SHARDS=3,ARGS=--retry-failed"
job_logs | grep -q "^clips: 0 extracted.* of 0$" \
    || { say "FAIL: ARGS=--retry-failed did not reach k400frames:"; job_logs; exit 1; }
diff -r "$WORK/local/train" "$WORK/array/train" >/dev/null || { say "FAIL: resubmissions changed the tree"; exit 1; }
say "PASS: the merged tree of 3 shards equals the local run (6 clips, $frames frames), verify passes," \
    "resubmissions skip everything; $(( $(date +%s) - started )) s in all"
