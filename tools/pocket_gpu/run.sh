#!/bin/bash
# One device run (see README.md here): train four pocket-model candidates in parallel on one GPU, measure them and
# the shipped model on the development scenes, and bring back the best two (each tar split under 16 MiB) and the logs.
# QUICK=quick runs it on a CPU in minutes as a dry run; MIN sets the training minutes (4).
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4
nvidia-smi -L; nproc; el installed
QUICK=${QUICK:-}
if [ -n "$QUICK" ]; then DEV=cpu; MIN=0.05; SC=1500; W=2; else DEV=cuda; MIN=${MIN:-4}; SC=40000; W=5; fi
timeout 300 python3 tools/pocket_gpu/evaluate_dev.py ddim_course/pocket/weights shipped $QUICK > /tmp/eval_shipped.txt 2>&1 &
# c1, c2: from scratch (the shipped autoencoder kept); c3: goes on training the shipped UNet and text encoder;
# c4: from scratch with attention at 16x16 as well (--attention-16), the layout the CPU could not afford to train
for c in "c1 128 5e-4 --vae-from" "c2 256 5e-4 --vae-from" "c3 128 2e-4 --init-from" \
         "c4 128 5e-4 --vae-from --attention-16"; do
  set -- $c
  python3 -m ddim_course.pocket.train --out /tmp/$1 --device $DEV $4 ddim_course/pocket/weights $5 \
    --workers $W --scenes $SC --unet-batch $2 --unet-lr $3 --unet-minutes $MIN --no-progress > /tmp/train_$1.log 2>&1 &
done
wait $(jobs -p | tail -4); el trained
for c in c1 c2 c3 c4; do grep -h seconds_per /tmp/$c/train_log.jsonl; tail -1 /tmp/train_$c.log; done
for c in c1 c2 c3 c4; do [ -f /tmp/$c/unet/diffusion_pytorch_model.safetensors ] && \
  timeout 240 python3 tools/pocket_gpu/evaluate_dev.py /tmp/$c $c $QUICK > /tmp/eval_$c.txt 2>&1 & done
wait; el evaluated
cat /tmp/eval_*.txt | grep -v Warning
python3 tools/pocket_gpu/pick.py /tmp/eval_*.txt > /tmp/picked.txt; cat /tmp/picked.txt
for c in $(cat /tmp/picked.txt); do tar cf - -C /tmp --exclude=vae $c | split -b 15m - $OUT/$c.tar.part-; done
tar czf $OUT/logs.tgz -C /tmp $(cd /tmp; ls eval_*.txt train_*.log picked.txt c?/train_log.jsonl c?/training_args.json 2>/dev/null)
ls -la $OUT; el done
