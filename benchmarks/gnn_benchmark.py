"""Measure GNN link-prediction training time per epoch and peak memory on synthetic plants of growing size.

Each size runs in its own Python process, so the peak resident set size (RSS, from
`resource.getrusage`) belongs to that size alone. One run:

1. generates a synthetic plant with about N edges (kg_service.gnn.synthetic, built directly as
   HeteroData with 16 random features per node, not written to Neo4j);
2. trains `train_link_predictor` on WorkOrder-HAS_FAILURE_MODE-FailureMode for --epochs epochs
   with the given encoder, mini-batches of --batch-size supervision edges and fan-out 10 per layer;
3. reports the mean seconds per epoch (kg_service.gnn.train's own timer, which excludes model
   set-up), the peak RSS of the process, the peak Python heap from tracemalloc (numpy and the
   generator, not torch's C++ allocations) and, on CUDA, torch.cuda.max_memory_allocated.

Usage (CPU; one JSON line per size goes to --output, a Markdown table to stdout):

    nice -n 10 .venv/bin/python benchmarks/gnn_benchmark.py --sizes 10000,30000,100000 --epochs 2 \
        --threads 1 --output gnn-bench.jsonl

benchmarks/gnn_gpu.sh runs the same on a GPU machine with --device cuda.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc

logger = logging.getLogger("gnn_benchmark")


def measure_one(edges: int, epochs: int, model: str, batch_size: int, device: str, seed: int, threads: int) -> dict:
    """Generate one plant, train on it and return the timings and memory peaks."""
    import torch

    if threads:
        torch.set_num_threads(threads)

    from kg_service.gnn.synthetic import SYNTHETIC_TARGET, SyntheticPlantConfig, generate_plant, plant_to_hetero
    from kg_service.gnn.train import TrainConfig, train_link_predictor

    import torch_geometric.data  # noqa: F401  (imported here so that its import time stays out of the timing)

    tracemalloc.start()
    started = time.perf_counter()
    plant = generate_plant(SyntheticPlantConfig.for_edges(edges, seed=seed))
    data = plant_to_hetero(plant, seed=seed)
    generate_seconds = time.perf_counter() - started

    config = TrainConfig(model=model, epochs=epochs, batch_size=batch_size, device=device, seed=seed)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    predictor = train_link_predictor(data, [SYNTHETIC_TARGET], config)
    _, python_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    metrics = predictor.metrics
    result = {
        "edges": plant.graph.num_edges,
        "nodes": sum(plant.graph.num_nodes.values()),
        "requested_edges": edges,
        "model": model,
        "epochs": epochs,
        "batch_size": batch_size,
        "supervision_edges": sum(metrics["supervision_edges"].values()),
        "seconds_per_epoch": metrics["seconds_per_epoch"],
        "generate_seconds": round(generate_seconds, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "python_heap_peak_mib": round(python_peak / 2**20, 1),
        "device": metrics["device"],
        "final_loss": round(metrics["loss"], 4),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    if device.startswith("cuda"):
        result["cuda_max_allocated_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        result["gpu"] = torch.cuda.get_device_name()
    return result


def run_sizes(sizes: list[int], arguments: argparse.Namespace) -> list[dict]:
    """Run each size in a child process and collect its JSON result; stop at the first failure or timeout."""
    results = []
    for edges in sizes:
        command = [sys.executable, __file__, "--single", str(edges), "--epochs", str(arguments.epochs),
                   "--model", arguments.model, "--batch-size", str(arguments.batch_size), "--device",
                   arguments.device, "--seed", str(arguments.seed), "--threads", str(arguments.threads)]
        logger.info("size %d edges: %s", edges, " ".join(command))
        try:
            child = subprocess.run(command, capture_output=True, text=True, timeout=arguments.timeout)
        except subprocess.TimeoutExpired:
            logger.error("size %d edges timed out after %d s; larger sizes skipped", edges, arguments.timeout)
            break
        if child.returncode != 0:
            logger.error("size %d edges failed (exit %d): %s", edges, child.returncode, child.stderr[-2000:])
            break
        result = json.loads(child.stdout.strip().splitlines()[-1])
        logger.info("size %d edges: %.2f s per epoch, peak RSS %.0f MiB", result["edges"],
                    result["seconds_per_epoch"], result["peak_rss_mib"])
        results.append(result)
        if arguments.output:
            with open(arguments.output, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(result) + "\n")
    return results


def markdown_table(results: list[dict]) -> str:
    """Return the results as a Markdown table with the growth factor of each step."""
    lines = ["| edges | nodes | supervision edges | s / epoch | peak RSS (MiB) | CUDA peak (MiB) | time growth |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    previous = None
    for result in results:
        growth = ""
        if previous is not None:
            edge_ratio = result["edges"] / previous["edges"]
            time_ratio = result["seconds_per_epoch"] / max(previous["seconds_per_epoch"], 1e-9)
            growth = f"x{time_ratio:.1f} for x{edge_ratio:.1f} edges"
        lines.append(f"| {result['edges']:,} | {result['nodes']:,} | {result['supervision_edges']:,} | "
                     f"{result['seconds_per_epoch']:.2f} | {result['peak_rss_mib']:.0f} | "
                     f"{result.get('cuda_max_allocated_mib', '')} | {growth} |")
        previous = result
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,30000,100000,300000,1000000",
                        help="Comma-separated target edge counts")
    parser.add_argument("--single", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, default=2, help="Training epochs per size")
    parser.add_argument("--model", default="rgcn", choices=["rgcn", "sage", "hgt"], help="GNN encoder")
    parser.add_argument("--batch-size", type=int, default=256, help="Supervision edges per mini-batch")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--timeout", type=int, default=1800, help="Seconds allowed per size")
    parser.add_argument("--threads", type=int, default=0,
                        help="Torch intra-op threads; 0 keeps torch's default. Use 1 on a machine shared with "
                             "other jobs")
    parser.add_argument("--output", help="Append one JSON line per size to this file")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("kg_service").setLevel(logging.WARNING)

    if arguments.single is not None:
        result = measure_one(arguments.single, arguments.epochs, arguments.model, arguments.batch_size,
                             arguments.device, arguments.seed, arguments.threads)
        print(json.dumps(result))
        return

    sizes = [int(size) for size in arguments.sizes.split(",") if size.strip()]
    logger.info("machine: %s, %d CPUs, Python %s", platform.platform(), os.cpu_count() or 0, platform.python_version())
    results = run_sizes(sizes, arguments)
    print(markdown_table(results))


if __name__ == "__main__":
    main()
