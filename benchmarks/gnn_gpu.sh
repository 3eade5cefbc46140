#!/usr/bin/env bash
# Run the GNN training benchmark (benchmarks/gnn_benchmark.py) on a CUDA GPU, the same sizes as on the CPU.
#
# Usage: bash benchmarks/gnn_gpu.sh [OUTPUT_DIR]
# OUTPUT_DIR defaults to $OUT when set (the device machine's result folder), else ./gnn-gpu-results.
# It writes gnn-gpu.jsonl (one JSON line per size), gnn-gpu.md (a Markdown table), nvidia-smi.txt
# and the log. It needs no Neo4j: the synthetic plants are built in memory.
# Set SIZES, EPOCHS, MODEL or SIZE_TIMEOUT to override the defaults below.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-${OUT:-gnn-gpu-results}}
mkdir -p "$out"
sizes=${SIZES:-10000,30000,100000,300000,1000000}
epochs=${EPOCHS:-2}
model=${MODEL:-rgcn}
size_timeout=${SIZE_TIMEOUT:-900}

if ! command -v nvidia-smi >/dev/null || ! nvidia-smi > "$out/nvidia-smi.txt" 2>&1; then
    echo "gnn_gpu.sh: no NVIDIA GPU found (nvidia-smi failed); run benchmarks/gnn_benchmark.py for the CPU" >&2
    exit 2
fi

# Reuse the project's environment when it is there; otherwise install only what the benchmark needs.
# PyPI's Linux torch wheels carry the CUDA libraries, so no separate CUDA toolkit is needed.
python=.venv/bin/python
if [ ! -x "$python" ] || ! "$python" -c "import torch, torch_geometric, kg_service" 2>/dev/null; then
    python3 -m venv .venv-gpu
    .venv-gpu/bin/pip install --quiet --disable-pip-version-check -e ".[gnn]"
    python=.venv-gpu/bin/python
fi
"$python" -c "import torch; assert torch.cuda.is_available(), 'torch sees no CUDA device'; print(torch.__version__, torch.cuda.get_device_name())" | tee "$out/torch.txt"

"$python" benchmarks/gnn_benchmark.py --device cuda --sizes "$sizes" --epochs "$epochs" --model "$model" \
    --timeout "$size_timeout" --output "$out/gnn-gpu.jsonl" > "$out/gnn-gpu.md" 2> "$out/gnn-gpu.log"
cat "$out/gnn-gpu.md"
