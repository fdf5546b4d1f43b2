"""Turn the m x (t+1) predictions per unlabelled image into one label and one confidence."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_ROWS = 8192  # images whose averaged probabilities a vote keeps (to estimate the class shares)


@dataclass
class Vote:
    labels: np.ndarray  # (N,) class index chosen by majority
    confidence: np.ndarray  # (N,) mean over all predictions of the probability of the chosen class
    agreement: np.ndarray  # (N,) fraction of predictions whose top class is the chosen one
    sample: np.ndarray | None = None  # (<= SAMPLE_ROWS, C) averaged probabilities of an even sample of the images

    @staticmethod
    def concatenate(votes: list["Vote"]) -> "Vote":
        """One vote over images voted a chunk at a time (at least one chunk)."""
        sample = np.concatenate([v.sample for v in votes]) if all(v.sample is not None for v in votes) else None
        if sample is not None and len(sample) > SAMPLE_ROWS:
            sample = sample[np.linspace(0, len(sample) - 1, SAMPLE_ROWS).astype(int)]
        return Vote(*(np.concatenate([getattr(v, f) for v in votes]) for f in ("labels", "confidence", "agreement")),
                    sample=sample)


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
                sample=mean_prob[np.linspace(0, n_img - 1, min(n_img, SAMPLE_ROWS)).astype(int)].astype(np.float32))


def class_shares(probs: np.ndarray, iterations: int = 200, tol: float = 1e-6) -> np.ndarray:
    """The class shares of unlabelled images, from posteriors of heads fitted with balanced class weights (which
    assume every class equally common): EM re-weights the posteriors by the shares until the shares they imply
    are the shares assumed (Saerens, Latinne & Decaestecker, Neural Computation 2002). The plain mean of the
    posteriors would pull every share towards 1/C, and a rare class would be overfilled."""
    probs = np.asarray(probs, dtype=np.float64)
    n_cls = probs.shape[1]
    shares = np.full(n_cls, 1.0 / n_cls)
    for _ in range(iterations):
        weighted = probs * (shares * n_cls)
        weighted /= np.maximum(weighted.sum(axis=1, keepdims=True), 1e-300)
        new = weighted.mean(axis=0)
        if np.abs(new - shares).max() < tol:
            return new
        shares = new
    return shares
