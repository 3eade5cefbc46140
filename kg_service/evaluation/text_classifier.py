"""A TF-IDF character n-gram text classifier with nearest-centroid decisions, in numpy."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np


class CharNgramCentroidClassifier:
    """Map short texts to labels by cosine similarity to each label's mean TF-IDF vector.

    Texts are lower-cased, runs of whitespace become one space and each word is padded with
    spaces, so n-grams (of `min_n` to `max_n` characters) do not cross word boundaries. Term
    frequencies are sublinear (1 + log tf) and IDF is smoothed: log((1 + N) / (1 + df)) + 1.
    """

    def __init__(self, min_n: int = 2, max_n: int = 4) -> None:
        if not 1 <= min_n <= max_n:
            raise ValueError(f"need 1 <= min_n <= max_n, got {min_n} and {max_n}")
        self.min_n = min_n
        self.max_n = max_n
        self.vocabulary: dict[str, int] = {}
        self.idf = np.zeros(0)
        self.labels: list[str] = []
        self.centroids = np.zeros((0, 0))

    def _ngrams(self, text: str) -> Counter:
        grams: Counter = Counter()
        for word in re.sub(r"\s+", " ", text.lower()).strip().split(" "):
            padded = f" {word} "
            for size in range(self.min_n, self.max_n + 1):
                grams.update(padded[start:start + size] for start in range(max(1, len(padded) - size + 1)))
        return grams

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        matrix = np.zeros((len(texts), len(self.vocabulary)))
        for row, text in enumerate(texts):
            for gram, count in self._ngrams(text).items():
                column = self.vocabulary.get(gram)
                if column is not None:
                    matrix[row, column] = 1.0 + math.log(count)
        matrix *= self.idf
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.where(norms == 0, 1.0, norms)

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> "CharNgramCentroidClassifier":
        """Learn the n-gram vocabulary, IDF weights and one centroid per label."""
        if not texts or len(texts) != len(labels):
            raise ValueError(f"need as many labels as texts (at least one), got {len(texts)} texts and {len(labels)}")
        document_frequency: Counter = Counter()
        for text in texts:
            document_frequency.update(set(self._ngrams(text)))
        self.vocabulary = {gram: index for index, gram in enumerate(sorted(document_frequency))}
        total = len(texts)
        self.idf = np.array([math.log((1 + total) / (1 + document_frequency[gram])) + 1
                             for gram in sorted(document_frequency)])
        vectors = self._vectors(texts)
        self.labels = sorted(set(labels))
        label_array = np.array(labels)
        centroids = np.stack([vectors[label_array == label].mean(axis=0) for label in self.labels])
        norms = np.linalg.norm(centroids, axis=1, keepdims=True)
        self.centroids = centroids / np.where(norms == 0, 1.0, norms)
        return self

    def predict(self, texts: Sequence[str]) -> list[str]:
        """Return the label whose centroid is nearest (highest cosine) to each text."""
        if not self.labels:
            raise ValueError("call fit before predict")
        similarity = self._vectors(texts) @ self.centroids.T
        return [self.labels[index] for index in similarity.argmax(axis=1)]
