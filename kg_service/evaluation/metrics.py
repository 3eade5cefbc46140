"""Typed metric results for ranking and classification evaluations."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel


class RecallAtK(BaseModel):
    """Mean over cases of the share of true causes found among the top `k` ranked candidates."""

    k: int
    value: float
    cases: int

    @classmethod
    def compute(cls, rankings: Sequence[Sequence[str]], truths: Sequence[Sequence[str]], k: int) -> "RecallAtK":
        if len(rankings) != len(truths):
            raise ValueError(f"got {len(rankings)} rankings for {len(truths)} ground-truth sets")
        scores = [len(set(ranking[:k]) & set(truth)) / len(set(truth)) for ranking, truth in zip(rankings, truths)
                  if truth]
        return cls(k=k, value=sum(scores) / len(scores) if scores else 0.0, cases=len(scores))


class Accuracy(BaseModel):
    """Share of cases whose prediction equals the label."""

    value: float
    correct: int
    cases: int

    @classmethod
    def compute(cls, predicted: Sequence[str], expected: Sequence[str]) -> "Accuracy":
        correct = sum(1 for guess, label in zip(predicted, expected, strict=True) if guess == label)
        return cls(value=correct / len(expected) if expected else 0.0, correct=correct, cases=len(expected))


class ClassScores(BaseModel):
    """Precision, recall and F1 of one class with its support (number of true cases)."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int


class MacroF1(BaseModel):
    """Unweighted mean F1 over the classes present in the labels, with the per-class scores."""

    value: float
    classes: list[ClassScores]

    @classmethod
    def compute(cls, predicted: Sequence[str], expected: Sequence[str]) -> "MacroF1":
        scores = per_class_scores(predicted, expected, sorted(set(expected)))
        return cls(value=sum(item.f1 for item in scores) / len(scores) if scores else 0.0, classes=scores)


def per_class_scores(predicted: Sequence[str], expected: Sequence[str], labels: Sequence[str]) -> list[ClassScores]:
    """Return precision, recall and F1 of each label; a ratio with a zero denominator is 0."""
    result = []
    for label in labels:
        true_positive = sum(1 for guess, truth in zip(predicted, expected, strict=True) if guess == label == truth)
        predicted_count = sum(1 for guess in predicted if guess == label)
        support = sum(1 for truth in expected if truth == label)
        precision = true_positive / predicted_count if predicted_count else 0.0
        recall = true_positive / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        result.append(ClassScores(label=label, precision=precision, recall=recall, f1=f1, support=support))
    return result
