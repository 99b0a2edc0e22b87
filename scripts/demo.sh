#!/usr/bin/env bash
# `make demo`: the main job on the bundled samples. Usage: scripts/demo.sh VENV_BIN OUTDIR
set -euo pipefail
bin=$1
out=$2
mkdir -p "$out"
cvtool() { "$bin/cvtool" "$@"; }

echo "== find-waldo: where is he?"
cvtool find-waldo sample_images/waldo_scene.png -t sample_images/waldo_template.png \
    -o "$out/waldo_found.png" --heatmap "$out/waldo_heatmap.png"

echo "== find-waldo --method robust: another drawing of him (other pose, size), not a copy"
cvtool find-waldo sample_images/robust_scene_1.png -t sample_images/robust_template.png \
    --method robust -o "$out/robust_found.png"

echo "== filters on sample_images/astronaut.png"
cvtool filter sample_images/astronaut.png -n gaussian --sigma 2 -o "$out/astronaut_gaussian.png" -q
cvtool filter sample_images/astronaut.png -n sobel-x --gray -o "$out/astronaut_sobel_x.png" -q
cvtool filter sample_images/astronaut.png -n sharpen -o "$out/astronaut_sharpen.png" -q
cvtool correlate sample_images/astronaut.png -k "1 2 1; 2 4 2; 1 2 1" --normalize-kernel \
    -s 2 -o "$out/astronaut_half.png" -q
echo "== entropy of sample_images/astronaut.png (its luminance histogram)"
cvtool entropy sample_images/astronaut.png

echo
echo "Outputs written to $out/:"
ls -1 "$out"
