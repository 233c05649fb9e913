#!/usr/bin/env bash
# A GPU session in one run: the project's checks on a GPU machine that reaches no package registry, in <= 9 min.
# benchmarks/gpu_pack.sh (run before, where the registry is reachable) packs into .gpu/ what that machine lacks.
# On the GPU machine, from the repository root, with .gpu/ carried along:
#     OUT=$OUT bash benchmarks/gpu_session.sh
# Parts, in priority order, each with its own cap inside one budget (BUDGET, default 540 s; set-up ~20 s); a part
# that runs past its cap is killed with its process group and the next one starts, a part that could not finish in
# the time left is not started. gpu_check writes its JSON after every section, the run and sliding-window sections
# after every run / row, and the parts add their sections to one file (--merge), so a kill keeps what was measured:
#   run             (190 s) gpu_check --sections run: the blog's training command on the KiTS19 sample, explorer
#                   (device augmentation), v1 1.7.1, explorer (worker augmentation); epoch seconds and the GPU's
#                   busy share, the issue's headline figures, hence first
#   augmentation    (90 s) the device augmentation against batchgenerators on CUDA: its difference, per transform;
#                   then (augmentation_timing) its milliseconds per transform at the blog's plans
#   sliding_window  (100 s) the explorer's sums modes against v1's predict_3D, the goals' rows first
#   nb05            (130 s) notebooks/05_train_live.ipynb executed by nbclient in a real kernel, with its outputs
#   learn           (80 s) benchmarks/real_sample_learning.py: the Colin27 learning check (40 epochs x 25 iterations)
#   rest            (80 s) gpu_check's training, data, monitor and DDP sections (measured in the first round)
# It writes 7 files under $OUT: run.log, summary.json (per part: exit code, seconds, GPU utilisation and memory
# from NVML samples), util.csv (the samples), gpu_check.json, nb05.ipynb, learn.tgz and check.tgz (logs, plots).
#
# Dry run on a CPU machine first (GPU time is short): the same plumbing with tiny settings (gpu_check --quick,
# a one-epoch learning check; notebook 05 as it runs on a CPU), with wheels for the local Python:
#     PYVER=3.11 GPU_PACK_DIR=$PWD/.gpu-dry bash benchmarks/gpu_pack.sh
#     DRY=1 GPU_PACK_DIR=$PWD/.gpu-dry PY=.venv/bin/python OUT=/tmp/gpu_dry bash benchmarks/gpu_session.sh
# Dry runs recorded on the 2-core CPU: commit fed4a94 passed end to end in 117 s — set-up 5 s, gpu_check --quick
# 35 s (all 7 sections), notebook 05 50 s (its CPU run), learning check 24 s (1 epoch); commit 3677ebd, with the
# cores shared with other jobs, in 436 s (10 / 72 / 278 / 72 s); commit 666dd2b (six parts) in 136 s — set-up
# 5 s, run 31 s, augmentation 6 s, sliding window 3 s, notebook 05 53 s, learning check 26 s, rest 7 s; commit
# e36a68c (six parts, all exit 0) in 130 s; commit 0b32bb6 (six parts, all exit 0; augmentation: 20 seeds,
# max_abs_diff_data 0, mismatched_seg_voxels 0) in 132 s; commit 4c03e93 (six parts, all exit 0; augmentation
# diff 0 on 20 seeds per path; the 2 cores shared with a test run, notebook 05 204 s) in 286 s; commit 09019db
# (six parts, all exit 0; augmentation diff 0) in 125 s; commit 35b1fe8 (the Triton prefilter kernels: on a CPU
# the eager path, as the set-up's line says; six parts, all exit 0; augmentation diff 0 on 20 seeds per path;
# the cores shared with a test run, notebook 05 270 s) in 394 s; commit 22d2ff6 (four Triton kernel families,
# the set-up's line naming the eager path for all four on a CPU; six parts, all exit 0; augmentation diff 0 and 0
# segmentation voxels on 20 seeds per path, 19 transforms) in 155 s; commit f816c47 (five families, the kernel
# check in its own process, the augmentation_timing section; six parts, all exit 0; augmentation diff 0 and 0
# segmentation voxels on 20 seeds per path) in 179 s.
set -u
T0=$(date +%s)
DRY=${DRY:-0}
if [ "$DRY" = 1 ]; then BUDGET=${BUDGET:-1200}; else BUDGET=${BUDGET:-540}; fi
DEADLINE=$((T0 + BUDGET))
R=$(cd "$(dirname "$0")/.." && pwd)
G=${GPU_PACK_DIR:-$R/.gpu}
OUT=${OUT:?set OUT to the folder for the results}; mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
PY=${PY:-python3}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_session.XXXXXX")
PARTS=$WORK/parts.tsv; : > "$PARTS"
exec > >(tee -a "$OUT/run.log") 2>&1
echo "== gpu_session start $(date -u +%FT%TZ) dry=$DRY budget=${BUDGET}s pack=$G"

# ---- set-up: the project (the packed commit, else this tree), the wheels into a site folder, SimpleITK
if [ -f "$G/proj.tar.gz" ]; then
  P=$WORK/proj; mkdir -p "$P"; tar xzf "$G/proj.tar.gz" -C "$P"; COMMIT=$(cat "$G/proj.commit" 2>/dev/null)
else
  P=$R; COMMIT=$(git -C "$R" rev-parse HEAD 2>/dev/null || echo unknown)
fi
SITE=$WORK/site; mkdir -p "$SITE"
if ls "$G"/whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" "$G"/whl/*.whl \
    || echo "!! installing the wheels failed"
else echo "!! no wheels in $G/whl (run benchmarks/gpu_pack.sh)"; fi
[ -f "$G/sitk.tar.xz" ] && { tar xJf "$G/sitk.tar.xz" -C "$SITE" || echo "!! unpacking SimpleITK failed"; }
export PYTHONPATH=$P:$SITE${PYTHONPATH:+:$PYTHONPATH} PATH=$SITE/bin:$PATH PYTHONUNBUFFERED=1 MPLBACKEND=Agg
# v1 1.7.1 loads its checkpoints with torch.load's old default (weights_only=False), which torch >= 2.6 changed
export TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1
if [ "$DRY" = 1 ]; then export nnUNet_n_proc_DA=${nnUNet_n_proc_DA:-2}; fi
echo "== set-up done in $(( $(date +%s) - T0 )) s (project $COMMIT)"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
"$PY" - <<'PY'
import importlib, os, sys
import torch
print("python", sys.version.split()[0], "| torch", torch.__version__, "| cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "", "| cores", os.cpu_count())
for m in ("numpy", "SimpleITK", "batchgenerators", "nnunet", "nnunet_explorer", "nbclient", "ipykernel",
          "ipywidgets", "medpy", "nibabel", "pynvml", "triton"):
    try:
        module = importlib.import_module(m); print("  import ok:", m, getattr(module, "__version__", ""))
    except Exception as e:  # noqa: BLE001
        print("  import FAILED:", m, type(e).__name__, e)
PY
# doctor on the real GPU: its versions (CUDA, cuDNN), whether the torch build has kernels for the GPU, and the cuDNN
# explanation's checks (nvidia-smi's compute capability and memory) as a user would see them
NNUNET_EXPLORER_WORKSPACE=$WORK/doctor timeout 60 "$PY" -m nnunet_explorer.cli doctor \
  || echo "== doctor exit $?"
echo "RuntimeError: cuDNN error: CUDNN_STATUS_INTERNAL_ERROR" \
  | NNUNET_EXPLORER_WORKSPACE=$WORK/doctor timeout 60 "$PY" -m nnunet_explorer.cli doctor --explain - \
  || echo "== doctor --explain exit $?"
# the Triton kernels compile (into Triton's disk cache, so the timed parts do not) and check themselves, in a
# process of their own: if that breaks the device, every part runs the eager path instead of failing
if ! "$PY" "$P/benchmarks/gpu_session/kernel_check.py"; then
  export NNUNET_EXPLORER_SPLINE_KERNELS=eager
  echo "!! the Triton kernel check failed: every part runs NNUNET_EXPLORER_SPLINE_KERNELS=eager"
fi
NPROC=$("$PY" -c "from nnunet_explorer.training.augmenter import default_num_processes as d; print(d())" \
        2>/dev/null || echo 2)
echo "augmentation workers per training (default_num_processes): $NPROC"
H=$P/benchmarks/gpu_session
"$PY" "$H/util_sampler.py" "$OUT/util.csv" & SAMPLER=$!

part() {  # part NAME CAP MIN COMMAND...: runs with min(CAP, time left), skipped when less than MIN seconds are
          # left (a part that cannot finish is not started); timeout kills its whole process group
  local name=$1 cap=$2 min=$3; shift 3
  local left=$((DEADLINE - $(date +%s) - 15))
  [ "$left" -lt "$cap" ] && cap=$left
  if [ "$cap" -lt "$min" ] || [ "$cap" -lt 20 ]; then
    echo "== $name SKIPPED (${cap} s left, it needs ${min} s)"; printf '%s\t0\t0\tskipped\n' "$name" >> "$PARTS"
    return
  fi
  echo; echo "== $name (cap ${cap} s) $(date -u +%T)"
  local start; start=$(date +%s.%N)
  timeout -k 10 "$cap" "$@"; local rc=$?
  printf '%s\t%s\t%s\t%s\n' "$name" "$start" "$(date +%s.%N)" "$rc" >> "$PARTS"
  echo "== $name exit $rc after $(awk "BEGIN{printf \"%.0f\", $(date +%s.%N) - $start}") s"
}

# Caps in priority order (GPU; DRY=1: generous): the issue's headline run, then the CUDA difference of the device
# augmentation, the sliding window's goals, notebook 05's real workload, the learning check (measured in the first
# round: 66 s), and the first round's sections (training, data, monitor, DDP) with what is left.
if [ "$DRY" = 1 ]; then
  GC="--device cpu --quick"; CAP_RUN=${CAP_RUN:-300}; CAP_AUG=${CAP_AUG:-300}; CAP_SW=${CAP_SW:-300}
  CAP_NB=${CAP_NB:-600}; CAP_LEARN=${CAP_LEARN:-240}; CAP_REST=${CAP_REST:-300}
  LA="--epochs 1 --iterations 2 --val_iterations 1"
else
  GC="--device cuda"; CAP_RUN=${CAP_RUN:-190}; CAP_AUG=${CAP_AUG:-90}; CAP_SW=${CAP_SW:-100}
  CAP_NB=${CAP_NB:-130}; CAP_LEARN=${CAP_LEARN:-80}; CAP_REST=${CAP_REST:-80}
  LA="--epochs 40 --iterations 25 --val_iterations 4"
fi
CHECK=("$PY" "$P/benchmarks/gpu_check.py" $GC --out "$OUT/gpu_check.json")

# ---- 1. the blog's training run, explorer vs v1 (gpu_check's 'run' section; its logs stay in $WORK/check)
export GPU_CHECK_RUN_WORKSPACE=$WORK/check
part run "$CAP_RUN" 60 "${CHECK[@]}" --sections run

# ---- 2. the device augmentation against batchgenerators on CUDA (the same file: --merge keeps 'run')
part augmentation "$CAP_AUG" 30 "${CHECK[@]}" --merge --sections augmentation,augmentation_timing

# ---- 3. the sliding window's modes against v1 (the goals' rows first, each row saved as it is measured)
part sliding_window "$CAP_SW" 30 "${CHECK[@]}" --merge --sections sliding_window

# ---- 4. notebook 05 in a real kernel (on a GPU it trains the real workload; on a CPU its small run)
part nb05 "$CAP_NB" 60 "$PY" "$H/run_notebook.py" "$P/notebooks/05_train_live.ipynb" "$OUT/nb05.ipynb" \
  --workspace "$WORK/nb05_workspace"

# ---- 5. the Colin27 learning check (not started when it cannot finish: 66 s of training in the first round)
part learn "$CAP_LEARN" 75 "$PY" "$P/benchmarks/real_sample_learning.py" $LA --fold 0 --n_proc_DA "$NPROC" \
  --workspace "$WORK/learn"

# ---- 6. the first round's sections, with what is left
part rest "$CAP_REST" 30 "${CHECK[@]}" --merge --sections training,data,monitor,ddp

kill "$SAMPLER" 2>/dev/null
# ---- results: at most 8 files come back; the logs and plots go into two tarballs (no checkpoints, no arrays)
X=(--exclude='*.npy' --exclude='*.npz' --exclude='*.model' --exclude='*.pkl' --exclude='*.nii.gz'
   --exclude='*.b2nd' --exclude='nnUNet_raw_data')
tar czf "$OUT/learn.tgz" -C "$WORK" "${X[@]}" learn 2>/dev/null
tar czf "$OUT/check.tgz" -C "$WORK" "${X[@]}" check nb05_workspace 2>/dev/null
"$PY" "$H/summarize.py" "$PARTS" "$OUT/util.csv" "$OUT/summary.json" \
  --extra "{\"dry\": $([ "$DRY" = 1 ] && echo true || echo false), \"commit\": \"$COMMIT\", \"budget_s\": $BUDGET, \"seconds_total\": $(( $(date +%s) - T0 ))}"
echo "== gpu_session end after $(( $(date +%s) - T0 )) s; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
rm -rf "$WORK"
