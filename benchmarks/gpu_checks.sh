#!/usr/bin/env bash
# The GPU checks, prepared as one short script for a session that is lent a GPU (the `device` tool: about 15
# minutes of device time in all, 10 minutes per command). Run from the repository root:
#
#     OUT=${OUT:-gpu-results} bash benchmarks/gpu_checks.sh [cli] [speed] [ttq] [csgm] [stacked] [tiny] [torchrun] [dipnat] [diffusion] [disentangle] [cyclegan] [pacgan2d]
#
# With no arguments it runs all six; each writes its JSON / Markdown (and PNG) under $OUT:
#   cli      the command line with --device $DEVICE (default cuda; DEVICE=cpu tries the script on the CPU, about 3
#            minutes on 2 cores), about a minute on a GPU: recover (csgm-fast and lasso-dct on compressed sensing,
#            lasso-pixel --alpha auto on super-resolution, hybrid on inpainting, dip on compressed sensing), the demo
#            (200 steps), and
#            one short epoch of each trainer (vae, gan, began, classifier with PGD adversarial training), attacks (PGD
#            on the adversarially trained classifier, the adaptive attack on the projection defense, transfer) and
#            occlusion maps, evaluate, invert, one-bit recovery and ood, into $OUT/cli/
#   speed    benchmarks/speed.py (GEMM peak, batched CSGM step, batched vs one-at-a-time, and the batched Lasso on the
#            GPU against scikit-learn per image on one CPU thread: about 2 minutes of scikit-learn); its Lasso row
#            is added to a copy of results/lasso_by_cpu in $OUT
#   ttq      benchmarks/time_to_quality.py (paper schedule vs csgm_fast on the benchmark's 300 images)
#   csgm     benchmarks/csgm_mnist.py, compressed-sensing curve only, the rows csgm (1000 steps x 10 restarts) and
#            csgm-fast at every m: the per-image seconds to put beside the CPU table
#   stacked  benchmarks/pacgan_stacked_mnist.py in the PacGAN authors' settings (2 G steps per D step, full-width
#            D, G width 64), STEPS steps (default 30000), SEEDS seeds (default 5), one process per model and seed
#            on the one GPU, merged at the end into $OUT/pacgan_stacked_mnist_gpu.{json,md}
#   tiny     the same with the tiny D of PacGAN's Table 3 (D width 2, G width 32, 1 G step) and the optimiser of the
#            authors' code for it (batch 128, latent 256, lr 2e-4 for D and 1e-4 for G, beta2 0.99), into
#            $OUT/pacgan_stacked_mnist_tiny_gpu.{json,md}: does DCGAN stay collapsed with 10x the CPU budget?
#   torchrun benchmarks/scaling.py on the GPU(s) (1 process, and one per GPU where there are 2 or more: NCCL) into
#            $OUT/scaling_gpu, with 2+ GPUs the sharded recovery's JSON against one process's, and the CPU
#            scaling with 1, 2, 4 and 8 processes over 8 threads (gloo, 1 run each) into $OUT/scaling_cpu8;
#            about 5 minutes. Not in the default list: name it.
#   dipnat   benchmarks/dip_natural.py at full size (512 px; held-out coffee; camera, astronaut, chelsea), DIP
#            steps chosen on the held-out PSNR curve up to 6000 (the paper's longest schedule), without the tiled
#            Lasso, into $OUT/dip_natural_512; BM3D, NLM and biharmonic run on the CPU (needs scikit-image and bm3d:
#            pip install -e ".[natural]"). Not in the default list: name it.
#   diffusion benchmarks/diffusion_mnist.py, the full protocol (300 images, every m and task) for dps and diffpir
#            with their defaults and the zoo's mnist-ddpm (MODEL=... for another), into $OUT/diffusion_mnist_gpu;
#            the CPU table ran on a subset of the images. Not in the default list: name it.
#   disentangle benchmarks/disentangle_sprites.py at the paper's scale where 10 minutes allow: 64 x 64 sprites,
#            InfoGAN / InfoGAN-CR DSTEPS iterations each (default 20000; the paper: 322,560), beta-VAE 10 epochs of
#            200,000 sprites, 3 seeds, into $OUT/disentangle_sprites_gpu (runs in $OUT/disentangle_runs, resumed when
#            run again): does InfoGAN-CR's FactorVAE score pass InfoGAN's with more iterations? Not in the default
#            list: name it.
#   cyclegan benchmarks/cyclegan_mnist.py with the full halves of MNIST (30,000 images per domain), 3 epochs, seeds
#            0 1 2 (the CPU run: 9,600 images, 1 epoch), into $OUT/cyclegan_mnist (runs in $OUT/cyclegan_runs); a
#            few minutes. Not in the default list: name it.
#   pacgan2d benchmarks/pacgan_2d.py with the paper's networks (G 4 x 400 + batch norm, D 3 x 200 maxout-5, Adam 1e-4,
#            beta1 0.8), 5 seeds x ring and grid per model, the four models as four processes on the one GPU,
#            P2STEPS steps (default 40000; the paper: 400,000), states in $OUT/pacgan_2d_runs (run it again with a
#            larger P2STEPS to continue), into $OUT/pacgan_2d_gpu. Not in the default list: name it.
# The data folder is ../shared/data unless GENPRIOR_DATA says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-results}
DATA=${GENPRIOR_DATA:-../shared/data}
STEPS=${STEPS:-30000}
SEEDS=${SEEDS:-5}
EVAL=${EVAL:-26000}
DEVICE=${DEVICE:-cuda}  # DEVICE=cpu runs the cli checks here, to try the script before spending GPU minutes on it
mkdir -p "$OUT"
checks=("$@")
[ ${#checks[@]} -eq 0 ] && checks=(cli speed ttq csgm stacked tiny)
python -c "import torch; print('torch', torch.__version__, 'cuda' if torch.cuda.is_available() else 'NO GPU: running on the CPU')"

# stacked NAME FLAGS...: both models x SEEDS seeds of pacgan_stacked_mnist.py with FLAGS, one process each, side by
# side on the one GPU, merged into $OUT/NAME.{json,md}
stacked() {
  local name=$1 parts=() pids=() failed=0 part seed model
  shift
  for seed in $(seq 0 $((SEEDS - 1))); do
    for model in DCGAN PacDCGAN2; do
      part="$OUT/${name}_${model}_${seed}"
      parts+=("$part.json")
      OMP_NUM_THREADS=1 python benchmarks/pacgan_stacked_mnist.py "$@" --steps "$STEPS" --eval-samples "$EVAL" \
        --models "$model" --seed-start "$seed" --seeds 1 --data-dir "$DATA" --out "$part" > "$part.log" 2>&1 &
      pids+=($!)
    done
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
  [ "$failed" -eq 0 ] || { echo "gpu_checks.sh: $failed stacked-MNIST runs failed (see $OUT/${name}_*.log)" >&2; exit 1; }
  python benchmarks/pacgan_stacked_mnist.py --merge "${parts[@]}" --out "$OUT/$name"
}

# the command line on the GPU: each command must run there (exit 0) and report or save where it ran
cli_checks() {
  local dir="$OUT/cli" bundled=(--dataset mnist-bundled --indices 0:20 --device "$DEVICE")
  rm -rf "$dir" && mkdir -p "$dir"  # a fresh folder: the train commands refuse one that holds a previous run's state
  genprior recover --task cs --m 100 --method csgm-fast "${bundled[@]}" --json "$dir/recover_csgm_fast.json" --out "$dir/recover_csgm_fast"
  genprior recover --task cs --m 500 --method lasso-dct "${bundled[@]}" --json "$dir/recover_lasso_dct.json"
  genprior recover --task superres --factor 2 --method lasso-pixel --alpha auto "${bundled[@]}" \
    --json "$dir/recover_lasso_auto.json"
  genprior recover --task inpaint --keep 0.3 --method hybrid "${bundled[@]}" --json "$dir/recover_hybrid.json" --out "$dir/recover_hybrid"
  genprior recover --task cs --m 200 --method dip "${bundled[@]}" --json "$dir/recover_dip.json" --out "$dir/recover_dip"
  genprior demo --device "$DEVICE" --steps 200 --out "$dir/demo"
  genprior train vae --data-dir "$DATA" --epochs 1 --device "$DEVICE" --out "$dir/vae"
  genprior train gan --dataset mnist --limit 4096 --epochs 1 --quiet --data-dir "$DATA" --device "$DEVICE" --out "$dir/gan"
  genprior train began --dataset mnist --limit 4096 --epochs 1 --quiet --data-dir "$DATA" --device "$DEVICE" --out "$dir/began"
  genprior train classifier --train-images 4096 --epochs 1 --adv-eps 0.3 --adv-steps 3 --data-dir "$DATA" --device "$DEVICE" \
    --out "$dir/classifier"
  genprior attack --attack pgd --defense adv-train "${bundled[@]}" --json "$dir/attack_pgd.json" --grid "$dir/attack_pgd.png"
  genprior attack --adaptive --defense projection --steps 50 --restarts 2 --dataset mnist-bundled --indices 0:4 \
    --device "$DEVICE" --json "$dir/attack_projection.json"
  genprior attack --attack transfer --substitute-images 2048 --data-dir "$DATA" --indices 0:20 --device "$DEVICE" \
    --json "$dir/attack_transfer.json"
  genprior explain --method occlusion --dataset mnist-bundled --indices 0:8 --device "$DEVICE" --out "$dir/explain.png"
  genprior walk --model mnist-cgan --label 3 --device "$DEVICE" --out "$dir/walk.png"
  genprior evaluate --model mnist-dcgan --dataset mnist-bundled --invert 20 --device "$DEVICE" --json "$dir/evaluate.json"
  genprior invert --model mnist-vae "${bundled[@]}" --out "$dir/invert"
  genprior recover --task one-bit --m 200 --method one-bit-csgm "${bundled[@]}" --json "$dir/recover_one_bit.json"
  genprior ood --model mnist-vae-8bit --score complexity-corrected --data-dir "$DATA" --indices 0:500 --device "$DEVICE" \
    --json "$dir/ood.json"
  grep -h '"device"' "$dir"/recover_*.json "$dir"/attack_*.json "$dir/demo/demo.json" "$dir/evaluate.json" \
    "$dir/invert/inversion.json" "$dir/ood.json" | sort | uniq -c
}

torchrun_checks() {  # docs/distributed.md: DDP training and sharded recovery under torchrun
  local gpus procs=(1)
  gpus=$(python -c "import torch; print(torch.cuda.device_count())")
  [ "$gpus" -ge 2 ] && procs=(1 "$gpus")
  python benchmarks/scaling.py --device "$DEVICE" --processes "${procs[@]}" --threads "${procs[-1]}" --repeats 2 \
    --data-dir "$DATA" --out "$OUT/scaling_gpu"
  if [ "$gpus" -ge 2 ]; then  # NCCL: the sharded recovery must give one process's numbers
    local rec=(recover --task cs --m 100 --method csgm-fast --indices 0:40 --data-dir "$DATA" --device "$DEVICE" -q)
    python -m genprior "${rec[@]}" --json "$OUT/recover_1proc.json"
    python -m torch.distributed.run --standalone --nproc_per_node "$gpus" -m genprior -- "${rec[@]}" \
      --json "$OUT/recover_${gpus}proc.json"
    python - "$OUT/recover_1proc.json" "$OUT/recover_${gpus}proc.json" <<'PY'
import json, math, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
bad = [k for k in a if not k.startswith("seconds") and a[k] != b[k]
       and not (isinstance(a[k], float) and math.isclose(a[k], b[k], rel_tol=1e-4))]
print("sharded recovery:", "same numbers" if not bad else f"DIFFERENT in {bad}")
PY
  fi
  python benchmarks/scaling.py --device cpu --processes 1 2 4 8 --threads 8 --repeats 1 --data-dir "$DATA" \
    --out "$OUT/scaling_cpu8"
}

for check in "${checks[@]}"; do
  case "$check" in
    cli) cli_checks ;;
    speed) cp benchmarks/results/lasso_by_cpu.json "$OUT/"  # the GPU's row joins the CPUs' in $OUT/lasso_by_cpu
           OMP_NUM_THREADS=1 python benchmarks/speed.py --sklearn-exact-tol 0 --out "$OUT/speed" ;;
    ttq) python benchmarks/time_to_quality.py --data-dir "$DATA" --out "$OUT/time_to_quality" ;;
    csgm) python benchmarks/csgm_mnist.py --skip-tasks --methods csgm csgm-fast --data-dir "$DATA" \
            --out "$OUT/csgm_mnist_gpu" ;;
    stacked) stacked pacgan_stacked_mnist_gpu --g-steps 2 --g-channels 64 --d-channels 64 ;;
    tiny) stacked pacgan_stacked_mnist_tiny_gpu --d-channels 2 --batch-size 128 --latent-dim 256 --g-lr 1e-4 --beta2 0.99 ;;
    torchrun) torchrun_checks ;;
    dipnat) python benchmarks/dip_natural.py --device "$DEVICE" --size 512 --max-steps 6000 --check-every 200 \
              --no-lasso --out "$OUT/dip_natural_512" ;;
    diffusion) python benchmarks/diffusion_mnist.py --model "${MODEL:-mnist-ddpm}" --chunk 300 --data-dir "$DATA" \
                 --out "$OUT/diffusion_mnist_gpu" ;;
    disentangle) python benchmarks/disentangle_sprites.py --device "$DEVICE" --size 64 --steps "${DSTEPS:-20000}" \
                   --vae-epochs 10 --images 200000 --runs "$OUT/disentangle_runs" --out "$OUT/disentangle_sprites_gpu" ;;
    cyclegan) python benchmarks/cyclegan_mnist.py --device "$DEVICE" --seeds 0 1 2 --epochs 3 --limit 30000 \
                --data-dir "$DATA" --work "$OUT/cyclegan_runs" --out "$OUT/cyclegan_mnist" ;;
    pacgan2d) python benchmarks/pacgan_2d.py --device "$DEVICE" --steps "${P2STEPS:-40000}" --jobs 4 --quiet \
                --g-hidden 400 400 400 400 --d-hidden 200 200 200 --lr 1e-4 --lr-end 0 --beta1 0.8 \
                --runs "$OUT/pacgan_2d_runs" --out "$OUT/pacgan_2d_gpu" ;;
    *) echo "gpu_checks.sh: unknown check '$check' (cli, speed, ttq, csgm, stacked, tiny, torchrun, dipnat, diffusion, disentangle, cyclegan, pacgan2d)" >&2
       exit 2 ;;
  esac
done

