"""Rank-based link-prediction metrics with PyKEEN's definitions.

For one test triple, the true entity's score is compared with the scores of every candidate
that is not another known true triple (the filtered setting):

- optimistic rank = 1 + number of candidates scored strictly higher;
- pessimistic rank = 1 + number of other candidates scored higher or equal;
- realistic rank = the mean of the two, which is the expected rank when ties are broken at
  random. PyKEEN reports this one by default (`pykeen.evaluation.RankBasedEvaluator`).

MRR is the mean of 1 / rank and Hits@k the fraction of ranks at most k, both over head and tail
predictions together ("both" in PyKEEN). A realistic rank of 1.5 is not a hit at 1.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

logger = logging.getLogger(__name__)


class Ranks(NamedTuple):
    """Optimistic, pessimistic and realistic ranks of a batch of test triples (1-based, floats)."""

    optimistic: np.ndarray
    pessimistic: np.ndarray

    @property
    def realistic(self) -> np.ndarray:
        return 0.5 * (self.optimistic + self.pessimistic)


def rank_true_scores(true_scores: np.ndarray, candidate_scores: np.ndarray,
                     candidate_mask: np.ndarray | None = None) -> Ranks:
    """Rank each true score among its row of candidate scores.

    `candidate_scores` has one row per test triple and excludes the true entity itself.
    `candidate_mask` (same shape, True = keep) drops filtered candidates, the other true triples.
    NaN scores count as ties with the true score, so a model that scores nothing gets the middle rank.
    """
    true_scores = np.asarray(true_scores, dtype=np.float64).reshape(-1, 1)
    candidate_scores = np.asarray(candidate_scores, dtype=np.float64)
    if candidate_scores.ndim != 2 or candidate_scores.shape[0] != true_scores.shape[0]:
        raise ValueError(f"candidate_scores must have shape ({true_scores.shape[0]}, n), "
                         f"got {candidate_scores.shape}")
    keep = np.ones_like(candidate_scores, dtype=bool) if candidate_mask is None else np.asarray(candidate_mask, bool)

    undecided = np.isnan(candidate_scores) | np.isnan(true_scores)
    higher = (candidate_scores > true_scores) & keep & ~undecided
    equal = ((candidate_scores == true_scores) | undecided) & keep
    optimistic = 1.0 + higher.sum(axis=1)
    pessimistic = optimistic + equal.sum(axis=1)
    return Ranks(optimistic.astype(np.float64), pessimistic.astype(np.float64))


@dataclass(frozen=True)
class MeanReciprocalRank:
    """Mean reciprocal rank (PyKEEN: inverse harmonic mean rank), in (0, 1]."""

    name: str = "mrr"

    def __call__(self, ranks: np.ndarray) -> float:
        ranks = np.asarray(ranks, dtype=np.float64)
        return float(np.mean(1.0 / ranks)) if ranks.size else float("nan")


@dataclass(frozen=True)
class HitsAtK:
    """Fraction of ranks at most k (PyKEEN: hits_at_k), in [0, 1]."""

    k: int

    @property
    def name(self) -> str:
        return f"hits_at_{self.k}"

    def __call__(self, ranks: np.ndarray) -> float:
        ranks = np.asarray(ranks, dtype=np.float64)
        return float(np.mean(ranks <= self.k)) if ranks.size else float("nan")


@dataclass(frozen=True)
class MeanRank:
    """Arithmetic mean rank, at least 1, where lower is better."""

    name: str = "mean_rank"

    def __call__(self, ranks: np.ndarray) -> float:
        ranks = np.asarray(ranks, dtype=np.float64)
        return float(np.mean(ranks)) if ranks.size else float("nan")


class RankingMetrics(NamedTuple):
    """MRR, Hits@1/3/10 and mean rank of realistic ranks, over `count` head and tail predictions."""

    mrr: float
    hits_at_1: float
    hits_at_3: float
    hits_at_10: float
    mean_rank: float
    count: int


def ranking_metrics(ranks: np.ndarray) -> RankingMetrics:
    """Compute every metric of RankingMetrics from realistic ranks."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size and ranks.min() < 1:
        raise ValueError(f"ranks are 1-based, got a minimum of {ranks.min()}")
    return RankingMetrics(mrr=MeanReciprocalRank()(ranks), hits_at_1=HitsAtK(1)(ranks),
                          hits_at_3=HitsAtK(3)(ranks), hits_at_10=HitsAtK(10)(ranks),
                          mean_rank=MeanRank()(ranks), count=int(ranks.size))
