"""Turn the m x (t+1) predictions per unlabelled image into one label and one confidence."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Vote:
    labels: np.ndarray  # (N,) class index chosen by majority
    confidence: np.ndarray  # (N,) mean over all predictions of the probability of the chosen class
    agreement: np.ndarray  # (N,) fraction of predictions whose top class is the chosen one
    share: np.ndarray | None = None  # (C,) mean over the N images of their averaged probabilities: the soft vote

    @staticmethod
    def concatenate(votes: list["Vote"]) -> "Vote":
        """One vote over images voted a chunk at a time (at least one chunk)."""
        n = np.array([len(v.labels) for v in votes], dtype=float)
        share = np.sum([v.share * k for v, k in zip(votes, n)], axis=0) / max(n.sum(), 1)
        return Vote(*(np.concatenate([getattr(v, f) for v in votes]) for f in ("labels", "confidence", "agreement")),
                    share=share)


def ensemble_vote(probs: np.ndarray) -> Vote:
    """Hard majority vote over predictions.

    Args:
        probs: ``(P, N, C)`` class probabilities: P = models x views predictions for N images.

    The class is the most common top-1 class among the P predictions (a tie goes to the class with the higher
    mean probability). The confidence is the mean, over all P predictions, of the probability each gives to
    that class, so a prediction that disagrees lowers it.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 3:
        raise ValueError(f"expected (predictions, images, classes), got shape {probs.shape}")
    n_pred, n_img, n_cls = probs.shape
    top = probs.argmax(axis=2)  # (P, N)
    counts = np.zeros((n_img, n_cls))
    for p in range(n_pred):
        counts[np.arange(n_img), top[p]] += 1
    mean_prob = probs.mean(axis=0)
    labels = np.argmax(counts * 2.0 + mean_prob, axis=1)  # mean_prob < 2 only breaks ties
    idx = np.arange(n_img)
    return Vote(labels=labels, confidence=mean_prob[idx, labels], agreement=counts[idx, labels] / n_pred,
                share=mean_prob.mean(axis=0) if n_img else np.zeros(n_cls))
