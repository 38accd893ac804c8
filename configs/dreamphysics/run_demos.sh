#!/bin/sh
# DreamPhysics demos on CPU (a few minutes each): learn E of a jelly ball and of a plant from a
# reference video rendered at the true E (--true-E), starting too soft and 100x too stiff. The ball
# starts 25x too soft, not 100x: at 5e2 Pa it collapses to a puddle that lies on the wrong side of a
# ridge of the loss (docs/dreamphysics.md, "Why the ball from 500 Pa goes the wrong way").
# Outputs: out/dreamphysics/<scene>_<start>/before_after.mp4, plot.png, log.csv, params.json.
# Usage: sh configs/dreamphysics/run_demos.sh [ball|plant ...]   (default: both)
set -e
cd "$(dirname "$0")/../.."
INVGFX="${INVGFX:-.venv/bin/invgfx}"
COMMON="--groups 2 --frames-per-group 4 --width 64 --height 64 --epochs 20 --lr 0.5 --lr-final 0.03 --betas 0.5,0.5"
for scene in ${@:-ball plant}; do
  case $scene in
    ball)  truth=5e4; low=2e3; high=5e6 ;;
    plant) truth=1e6; low=1e4; high=1e8 ;;
    *) echo "unknown demo $scene (ball or plant)"; exit 2 ;;
  esac
  for start in low high; do
    eval init=\$$start
    out=out/dreamphysics/${scene}_${start}
    rm -rf "$out"
    "$INVGFX" learn-physics $scene --config configs/dreamphysics/$scene.json --scene-set n_gaussians=300 \
      --prior reference:out/dreamphysics/${scene}_truth --true-E $truth --init E=$init $COMMON --out "$out"
  done
done
