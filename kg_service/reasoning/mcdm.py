"""Multi-criteria decision methods: TOPSIS, VIKOR, weighted sum, and AHP weights.

Every method takes a decision matrix (one row per alternative, one column per criterion),
non-negative weights (scaled here to sum to 1) and a direction per criterion ('benefit': higher
is better, 'cost': lower is better). Each returns a `DecisionResult` with all its intermediate
tables, so a ranking can be explained step by step. Nothing is printed. Each function's
docstring states the formulas it uses.

A constant criterion (the same value for every alternative) adds the same amount to every
alternative's score or distance, so it never changes a ranking. Its normalised column follows
pymcdm 1.4 where pymcdm defines one: TOPSIS divides it by its norm (`vector_normalization`) and
WSM sets it to 1 (`minmax_normalization`). Where pymcdm gives no number, the column is 0: a
column of zeros in TOPSIS (pymcdm divides 0 by 0) and any constant column in VIKOR (pymcdm
raises ValueError), whose regret is then 0 for every alternative. `constant_criteria` finds such
columns so a caller can report them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from kg_service.errors import DecisionInputError

logger = logging.getLogger(__name__)

Direction = Literal["benefit", "cost"]
DIRECTIONS = ("benefit", "cost")
METHODS = ("TOPSIS", "VIKOR", "WSM")

# Saaty's random consistency index by matrix order (1 to 15): the mean consistency index of
# random reciprocal matrices. Orders 1 and 2 are always consistent.
# NOTE: orders 9 to 15 use the extended table as commonly reproduced (not checked against Saaty's text).
RANDOM_INDEX = {1: 0.0, 2: 0.0, 3: 0.58, 4: 0.90, 5: 1.12, 6: 1.24, 7: 1.32, 8: 1.41, 9: 1.45, 10: 1.49,
                11: 1.51, 12: 1.48, 13: 1.56, 14: 1.57, 15: 1.59}
MAX_CONSISTENCY_RATIO = 0.1
# Relative tolerance for a_ji = 1 / a_ij, loose enough for judgements typed as 0.33 for 1/3.
RECIPROCAL_TOLERANCE = 0.02
# Scores closer than this to the next better score share its rank. All three methods give scores
# between 0 and 1, so a smaller difference is rounding noise, not a preference.
SCORE_TIE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class DecisionResult:
    """A ranking with the tables that produced it.

    `scores` are the closeness coefficients (TOPSIS), the weighted sums (WSM) or the Q indices
    (VIKOR); `higher_is_better` tells which way they rank. `ranking` contains alternative indices,
    best first, with tied alternatives in matrix order, and `ranks` the competition rank of each.
    `distances` names each per-alternative distance vector, for example `toIdeal` and `toAntiIdeal`
    for TOPSIS, `groupUtility` (S) and `individualRegret` (R) for VIKOR.
    """

    method: str
    alternatives: list[str]
    criteria: list[str]
    directions: list[str]
    weights: np.ndarray
    decision_matrix: np.ndarray
    normalized_matrix: np.ndarray
    weighted_matrix: np.ndarray
    ideal: np.ndarray
    anti_ideal: np.ndarray
    distances: dict[str, np.ndarray]
    scores: np.ndarray
    higher_is_better: bool
    ranking: list[int] = field(default_factory=list)

    @property
    def ranks(self) -> list[int]:
        """The 1-based rank of each alternative, in matrix row order, by standard competition ranking.

        Tied scores share the best rank of the tie and the next score skips the ranks they
        take, as in 1, 2, 2, 4. Scores within SCORE_TIE_TOLERANCE of the score before them tie.
        """
        ranks = [0] * len(self.alternatives)
        previous = None
        for position, index in enumerate(self.ranking, start=1):
            score = float(self.scores[index])
            tied = previous is not None and abs(score - previous[1]) <= SCORE_TIE_TOLERANCE
            ranks[index] = previous[0] if tied else position
            previous = (ranks[index], score)
        return ranks

    def rank_of(self, alternative: str) -> int:
        """Return the 1-based competition rank of an alternative, which it shares with any tied alternative."""
        return self.ranks[self.alternatives.index(alternative)]


@dataclass(frozen=True)
class AhpResult:
    """Priority weights from a pairwise comparison matrix with Saaty's consistency measures."""

    matrix: np.ndarray
    weights: np.ndarray
    lambda_max: float
    consistency_index: float
    random_index: float
    consistency_ratio: float


def check_inputs(matrix, weights, directions: Sequence[str], alternatives: Sequence[str] | None = None,
                 criteria: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray, list[str], list[str], list[str]]:
    """Validate and return (matrix, weights summing to 1, directions, alternatives, criteria names).

    Raises DecisionInputError naming the parameter and the bad value.
    """
    values = np.asarray(matrix, dtype=float)
    if values.ndim != 2 or values.shape[0] < 1 or values.shape[1] < 1:
        raise DecisionInputError(f"matrix must be 2-D with at least one alternative and one criterion, got shape "
                                 f"{values.shape}")
    rows, columns = values.shape
    bad = np.argwhere(~np.isfinite(values))
    if bad.size:
        row, column = bad[0]
        raise DecisionInputError(f"matrix[{row}][{column}] = {values[row, column]} is not a finite number; "
                                 "drop the alternative or fill in the value")

    weight_values = np.asarray(weights, dtype=float)
    if weight_values.shape != (columns,):
        raise DecisionInputError(f"weights must have one value per criterion ({columns}), got shape "
                                 f"{weight_values.shape}")
    for index, weight in enumerate(weight_values):
        if not np.isfinite(weight) or weight < 0:
            raise DecisionInputError(f"weights[{index}] = {weight} is invalid; weights must be finite and non-negative")
    # Scale by the largest weight first, so very large weights cannot overflow the sum.
    largest = float(weight_values.max()) if columns else 0.0
    if largest > 0:
        weight_values = weight_values / largest
    total = float(weight_values.sum())
    if total <= 0:
        raise DecisionInputError(f"weights {weight_values.tolist()} sum to {total}; give at least one criterion a "
                                 "positive weight")

    directions = list(directions)
    if len(directions) != columns:
        raise DecisionInputError(f"directions must have one value per criterion ({columns}), got {len(directions)}")
    for index, direction in enumerate(directions):
        if normalize_direction(direction) is None:
            raise DecisionInputError(f"directions[{index}] = {direction!r} is invalid; use 'benefit' or 'cost' "
                                     "(any case)")
    directions = [normalize_direction(direction) for direction in directions]

    alternatives = list(alternatives) if alternatives is not None else [str(index) for index in range(rows)]
    criteria = list(criteria) if criteria is not None else [f"c{index}" for index in range(columns)]
    if len(alternatives) != rows:
        raise DecisionInputError(f"alternatives must name each matrix row ({rows}), got {len(alternatives)}")
    if len(criteria) != columns:
        raise DecisionInputError(f"criteria must name each matrix column ({columns}), got {len(criteria)}")
    return values, weight_values / total, directions, alternatives, criteria


def normalize_direction(direction: object) -> str | None:
    """Return 'benefit' or 'cost' for a direction in any case, or None when it is neither."""
    if not isinstance(direction, str):
        return None
    lowered = direction.strip().lower()
    return lowered if lowered in DIRECTIONS else None


def constant_criteria(matrix) -> list[int]:
    """Return the indices of the columns of `matrix` that have the same value in every row."""
    values = np.asarray(matrix, dtype=float)
    return [int(index) for index in np.flatnonzero(values.max(axis=0) == values.min(axis=0))]


def _benefit_mask(directions: list[str]) -> np.ndarray:
    return np.array([direction == "benefit" for direction in directions])


def _ranking(scores: np.ndarray, higher_is_better: bool) -> list[int]:
    """Return alternative indices best first; alternatives that tie keep matrix order."""
    keys = -scores if higher_is_better else scores
    order = [int(index) for index in np.argsort(keys, kind="stable")]

    # Scores that differ only by rounding noise sort by that noise; put each tie in matrix order.
    ranking: list[int] = []
    tie: list[int] = []
    for index in order:
        if tie and abs(float(keys[index]) - float(keys[tie[-1]])) > SCORE_TIE_TOLERANCE:
            ranking.extend(sorted(tie))
            tie = []
        tie.append(index)
    ranking.extend(sorted(tie))
    return ranking


def topsis(matrix, weights, directions: Sequence[str], alternatives: Sequence[str] | None = None,
           criteria: Sequence[str] | None = None) -> DecisionResult:
    """Rank alternatives by closeness to the ideal solution, with vector normalisation.

    r_ij = x_ij / ||x_j|| and v_ij = w_j r_ij. The ideal takes each column's best value (max for
    benefit, min for cost) and the anti-ideal its worst. Closeness is D- / (D+ + D-). Dividing
    a column by its positive norm keeps its order, so negative values (early deliveries) rank correctly.
    """
    values, weight_values, directions, alternatives, criteria = check_inputs(matrix, weights, directions,
                                                                             alternatives, criteria)
    norms = np.sqrt((values ** 2).sum(axis=0))
    # A column of zeros carries no information; it normalises to zeros instead of dividing 0 by 0.
    normalized = np.divide(values, norms, out=np.zeros_like(values), where=norms > 0)
    weighted = normalized * weight_values

    benefit = _benefit_mask(directions)
    ideal = np.where(benefit, weighted.max(axis=0), weighted.min(axis=0))
    anti_ideal = np.where(benefit, weighted.min(axis=0), weighted.max(axis=0))
    to_ideal = np.sqrt(((weighted - ideal) ** 2).sum(axis=1))
    to_anti_ideal = np.sqrt(((weighted - anti_ideal) ** 2).sum(axis=1))

    spread = to_ideal + to_anti_ideal
    # All alternatives equal on every weighted criterion: none is closer to the ideal than another.
    closeness = np.divide(to_anti_ideal, spread, out=np.full_like(spread, 0.5), where=spread > 0)
    return DecisionResult("TOPSIS", alternatives, criteria, directions, weight_values, values, normalized, weighted,
                          ideal, anti_ideal, {"toIdeal": to_ideal, "toAntiIdeal": to_anti_ideal}, closeness, True,
                          _ranking(closeness, True))


def vikor(matrix, weights, directions: Sequence[str], alternatives: Sequence[str] | None = None,
          criteria: Sequence[str] | None = None, v: float = 0.5) -> DecisionResult:
    """Rank alternatives by the VIKOR compromise index Q (lower is better).

    f*_j and f-_j are each column's best and worst values. The normalised matrix contains the regret
    (f*_j - x_ij) / (f*_j - f-_j), so 0 is best. S_i sums the weighted regrets, R_i takes their
    maximum, and Q_i = v (S_i - S*) / (S- - S*) + (1 - v) (R_i - R*) / (R- - R*).
    """
    values, weight_values, directions, alternatives, criteria = check_inputs(matrix, weights, directions,
                                                                             alternatives, criteria)
    if not 0 <= v <= 1:
        raise DecisionInputError(f"v = {v} is invalid; the weight of the group utility must be between 0 and 1")
    benefit = _benefit_mask(directions)
    ideal = np.where(benefit, values.max(axis=0), values.min(axis=0))
    anti_ideal = np.where(benefit, values.min(axis=0), values.max(axis=0))
    span = ideal - anti_ideal
    # A criterion on which every alternative is equal gives no alternative any regret. pymcdm's VIKOR
    # raises ValueError here instead.
    normalized = np.divide(ideal - values, span, out=np.zeros_like(values), where=span != 0)
    weighted = normalized * weight_values

    group_utility = weighted.sum(axis=1)
    individual_regret = weighted.max(axis=1)
    q = v * _unit_scale(group_utility) + (1 - v) * _unit_scale(individual_regret)
    return DecisionResult("VIKOR", alternatives, criteria, directions, weight_values, values, normalized, weighted,
                          ideal, anti_ideal, {"groupUtility": group_utility, "individualRegret": individual_regret},
                          q, False, _ranking(q, False))


def _unit_scale(values: np.ndarray) -> np.ndarray:
    """Return (x - min) / (max - min), or zeros when all values are equal."""
    span = values.max() - values.min()
    if span == 0:
        return np.zeros_like(values)
    return (values - values.min()) / span


def weighted_sum(matrix, weights, directions: Sequence[str], alternatives: Sequence[str] | None = None,
                 criteria: Sequence[str] | None = None) -> DecisionResult:
    """Rank alternatives by the weighted sum of min-max normalised values (higher is better).

    Benefit columns normalise to (x - min) / (max - min) and cost columns to (max - x) / (max - min),
    so 1 is always best. Distances are L1 distances of the weighted row to the ideal and anti-ideal.
    """
    values, weight_values, directions, alternatives, criteria = check_inputs(matrix, weights, directions,
                                                                             alternatives, criteria)
    benefit = _benefit_mask(directions)
    low, high = values.min(axis=0), values.max(axis=0)
    span = high - low
    oriented = np.where(benefit, values - low, high - values)
    # A criterion on which every alternative is equal counts as fully met for all of them, as in
    # pymcdm's minmax_normalization.
    normalized = np.divide(oriented, span, out=np.ones_like(values), where=span > 0)
    weighted = normalized * weight_values

    ideal = weighted.max(axis=0)
    anti_ideal = weighted.min(axis=0)
    scores = weighted.sum(axis=1)
    distances = {"toIdeal": np.abs(weighted - ideal).sum(axis=1), "toAntiIdeal": np.abs(weighted - anti_ideal).sum(axis=1)}
    return DecisionResult("WSM", alternatives, criteria, directions, weight_values, values, normalized, weighted,
                          ideal, anti_ideal, distances, scores, True, _ranking(scores, True))


def rank(method: str, matrix, weights, directions: Sequence[str], alternatives: Sequence[str] | None = None,
         criteria: Sequence[str] | None = None) -> DecisionResult:
    """Run the decision method named `method` ('TOPSIS', 'VIKOR' or 'WSM', any case)."""
    name = method.upper() if isinstance(method, str) else method
    if name == "TOPSIS":
        return topsis(matrix, weights, directions, alternatives, criteria)
    if name == "VIKOR":
        return vikor(matrix, weights, directions, alternatives, criteria)
    if name in ("WSM", "WEIGHTED_SUM"):
        return weighted_sum(matrix, weights, directions, alternatives, criteria)
    raise DecisionInputError(f"method = {method!r} is invalid; use one of {', '.join(METHODS)}")


def ahp_weights(matrix, name: str = "matrix", max_ratio: float = MAX_CONSISTENCY_RATIO) -> AhpResult:
    """Derive priority weights from a pairwise comparison matrix with the principal eigenvector.

    a_ij states how much more important criterion i is than j (Saaty's 1-9 scale); the matrix must
    be positive and reciprocal. CI = (lambda_max - n) / (n - 1) and CR = CI / RI(n). Raises
    DecisionInputError naming `name` when the matrix is malformed or CR exceeds `max_ratio`.
    """
    try:
        values = np.asarray(matrix, dtype=float)
    except (TypeError, ValueError):
        raise DecisionInputError(f"{name} must be a square matrix of numbers; its rows have different lengths "
                                 "or hold non-numbers") from None
    if values.ndim != 2 or values.shape[0] != values.shape[1] or values.shape[0] < 1:
        raise DecisionInputError(f"{name} must be a square pairwise comparison matrix, got shape {values.shape}")
    order = values.shape[0]
    if order not in RANDOM_INDEX:
        raise DecisionInputError(f"{name} has order {order}; the random index is known for orders 1 to "
                                 f"{max(RANDOM_INDEX)} only")
    bad = np.argwhere(~np.isfinite(values) | (values <= 0))
    if bad.size:
        i, j = bad[0]
        raise DecisionInputError(f"{name}[{i}][{j}] = {values[i, j]} is invalid; a judgement must be a finite "
                                 "positive number, such as 1 to 9 or its reciprocal 1/9 to 1")
    for i in range(order):
        if not np.isclose(values[i, i], 1.0):
            raise DecisionInputError(f"{name}[{i}][{i}] = {values[i, i]}; a criterion compared with itself must be 1")
        for j in range(i + 1, order):
            if not np.isclose(values[i, j] * values[j, i], 1.0, rtol=RECIPROCAL_TOLERANCE):
                raise DecisionInputError(f"{name}[{i}][{j}] = {values[i, j]} and {name}[{j}][{i}] = {values[j, i]} "
                                         "are not reciprocal; set one to 1 divided by the other")

    eigenvalues, eigenvectors = np.linalg.eig(values)
    principal = int(np.argmax(eigenvalues.real))
    lambda_max = float(eigenvalues[principal].real)
    vector = np.abs(eigenvectors[:, principal].real)
    weights = vector / vector.sum()

    consistency_index = (lambda_max - order) / (order - 1) if order > 2 else 0.0
    random_index = RANDOM_INDEX[order]
    ratio = consistency_index / random_index if random_index > 0 else 0.0
    if ratio > max_ratio:
        raise DecisionInputError(f"{name} is inconsistent: consistency ratio {ratio:.3f} exceeds {max_ratio} "
                                 f"(lambda_max {lambda_max:.4f}, n {order}); revise the judgements that contradict "
                                 "each other")
    return AhpResult(values, weights, lambda_max, consistency_index, random_index, ratio)
