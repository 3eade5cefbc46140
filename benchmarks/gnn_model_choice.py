"""Compare the GNN encoders (sage, rgcn, hgt) on held-out edges of a saved checkpoint's graph.

Usage (after `kg-service train`, which saves the exported graph with the checkpoint)::

    python benchmarks/gnn_model_choice.py --seeds 7 8 9 --epochs 20

For each split seed, 10% of the target edges are held out with their reverse edges, and each
model is trained on the rest. Every held-out edge is then ranked against all nodes of the target
class, with the other true edges filtered out (filtered MRR and Hits@3). Prints one JSON object.
The full evaluation against TransE, RotatE and Adamic–Adar is `kg-service evaluate link-prediction`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from kg_service.config import get_settings
from kg_service.gnn.checkpoints import gnn_dir, list_versions
from kg_service.gnn.train import REVERSE_PREFIX, TrainConfig, train_link_predictor


def held_out_split(data, edge_type, seed: int, share: float = 0.1):
    """Return a copy of `data` without a seeded `share` of `edge_type` edges, and those edges."""
    edges = data[edge_type].edge_index
    order = torch.randperm(edges.size(1), generator=torch.Generator().manual_seed(seed))
    size = max(1, int(edges.size(1) * share))
    train = data.clone()
    train[edge_type].edge_index = edges[:, order[size:]]
    reverse = (edge_type[2], REVERSE_PREFIX + edge_type[1], edge_type[0])
    if reverse in data.edge_types:
        train[reverse].edge_index = train[edge_type].edge_index.flip(0)
    return train, edges[:, order[:size]]


def filtered_ranks(predictor, edge_type, all_edges, test_edges, candidates: int) -> list[int]:
    known = set(map(tuple, all_edges.t().tolist()))
    ranks = []
    for source, target in test_edges.t().tolist():
        scores = predictor.score(edge_type, torch.full((candidates,), source), torch.arange(candidates))
        allowed = torch.tensor([(source, other) not in known or other == target for other in range(candidates)])
        ranks.append(1 + int(((scores > scores[target]) & allowed).sum()))
    return ranks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default="latest", help="Checkpoint version whose graph.pt is used")
    parser.add_argument("--target", default="WorkOrder:HAS_FAILURE_MODE:FailureMode", help="Source:TYPE:Target")
    parser.add_argument("--models", nargs="+", default=["sage", "rgcn", "hgt"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[7, 8, 9], help="Split seeds")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of torch")
    args = parser.parse_args()

    settings = get_settings()
    versions = list_versions(settings.models_dir)
    if not versions:
        raise SystemExit(f"no checkpoint under {gnn_dir(settings.models_dir)}; run 'kg-service train' first")
    version = versions[-1] if args.version == "latest" else args.version
    data = torch.load(gnn_dir(settings.models_dir) / version / "graph.pt", weights_only=False)
    edge_type = tuple(args.target.split(":"))
    candidates = data[edge_type[2]].num_nodes

    results: dict[str, list[dict]] = {kind: [] for kind in args.models}
    for seed in args.seeds:
        train, test = held_out_split(data, edge_type, seed)
        for kind in args.models:
            started = time.perf_counter()
            predictor = train_link_predictor(train, [edge_type], TrainConfig(model=kind, epochs=args.epochs,
                                                                             num_threads=args.threads))
            ranks = filtered_ranks(predictor, edge_type, data[edge_type].edge_index, test, candidates)
            results[kind].append({"seed": seed, "mrr": round(sum(1 / rank for rank in ranks) / len(ranks), 4),
                                  "hits@3": round(sum(rank <= 3 for rank in ranks) / len(ranks), 4),
                                  "test_edges": len(ranks),
                                  "seconds": round(time.perf_counter() - started, 1)})
    summary = {kind: {"mean_mrr": round(sum(run["mrr"] for run in runs) / len(runs), 4), "runs": runs}
               for kind, runs in results.items()}
    print(json.dumps({"checkpoint": version, "target": args.target, "results": summary}))


if __name__ == "__main__":
    main()
