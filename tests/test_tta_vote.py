"""Test-time transforms do what their names say, and the vote and confidence rule."""
import numpy as np
import pytest
import torch

from omniclas.model.transforms import TRANSFORM_FUNCTIONS, tta_views
from omniclas.engine.select import SelectionContext, get_selection, list_selections, per_class_summary
from omniclas.engine.vote import Vote, ensemble_vote
from omniclas.data.imageio import read_image


@pytest.fixture(scope="module")
def cell(bbbc013):
    img = read_image(sorted((bbbc013 / "CytoplasmicGFP").iterdir())[0])
    return torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255


def test_hflip_moves_first_column_to_last(cell):
    out = TRANSFORM_FUNCTIONS["hflip"](cell)
    assert torch.equal(out[..., :, -1], cell[..., :, 0])
    assert torch.equal(out[..., 0, :], cell[..., 0, :].flip(-1))  # rows stay in place


def test_vflip_moves_first_row_to_last(cell):
    out = TRANSFORM_FUNCTIONS["vflip"](cell)
    assert torch.equal(out[..., -1, :], cell[..., 0, :])
    assert torch.equal(out[..., :, 0], cell[..., :, 0].flip(-1))


def test_hvflip_is_both(cell):
    assert torch.equal(TRANSFORM_FUNCTIONS["hvflip"](cell), cell.flip(-1).flip(-2))


def test_blur_smooths(cell):
    out = TRANSFORM_FUNCTIONS["blur"](cell)
    assert out.shape == cell.shape
    diff = lambda x: (x[..., 1:] - x[..., :-1]).abs().mean()
    assert diff(out) < 0.8 * diff(cell)
    assert abs(out.mean() - cell.mean()) < 0.01


def test_gamma_changes_intensities(cell):
    out = TRANSFORM_FUNCTIONS["gamma"](cell)
    mid = (cell > 0.1) & (cell < 0.9)
    assert mid.any()
    assert torch.all(out[mid] > cell[mid])  # gamma < 1 brightens mid-tones
    assert torch.equal(out[cell == 0], cell[cell == 0])


def test_views_are_original_plus_each_transform():
    views = tta_views(["hflip", "gamma"])
    assert [name for name, _ in views] == ["original", "hflip", "gamma"]
    assert views[0][1] is None


def test_vote_is_majority_and_confidence_is_mean_probability_of_the_winner():
    probs = np.array([  # 3 predictions, 2 images, 3 classes
        [[0.6, 0.3, 0.1], [0.1, 0.2, 0.7]],
        [[0.7, 0.2, 0.1], [0.5, 0.4, 0.1]],
        [[0.2, 0.7, 0.1], [0.1, 0.1, 0.8]],
    ])
    vote = ensemble_vote(probs)
    assert vote.labels.tolist() == [0, 2]
    assert vote.confidence == pytest.approx([(0.6 + 0.7 + 0.2) / 3, (0.7 + 0.1 + 0.8) / 3])
    assert vote.agreement == pytest.approx([2 / 3, 2 / 3])


def test_vote_is_hard_not_soft():
    # Soft voting (mean probability) would pick class 1; two of three predictions say class 0.
    probs = np.array([[[0.51, 0.49]], [[0.51, 0.49]], [[0.0, 1.0]]])
    assert ensemble_vote(probs).labels.tolist() == [0]


def test_tie_goes_to_higher_mean_probability():
    probs = np.array([[[0.9, 0.1]], [[0.4, 0.6]]])
    assert ensemble_vote(probs).labels.tolist() == [0]


def _ctx(round_=0, threshold=0.8, n_classes=2):
    return SelectionContext(round=round_, n_classes=n_classes, threshold=threshold)


def test_threshold_rule_is_the_papers():
    probs = np.array([[[0.95, 0.05], [0.55, 0.45], [0.2, 0.8]]])
    vote = ensemble_vote(probs)
    rule = get_selection("threshold")
    assert rule(vote, _ctx(threshold=0.8)).tolist() == [0, 2]
    assert rule(vote, _ctx(threshold=0.0)).tolist() == [0, 1, 2]
    assert rule(vote, _ctx(threshold=1.0)).tolist() == []


def test_balanced_rule_takes_a_growing_share_per_class_where_all_agree():
    # Class 0: 12 candidates (confidence 0.99 .. 0.88); class 1: 3 candidates; one image where predictions disagree.
    labels = np.array([0] * 12 + [1] * 3 + [0])
    confidence = np.array([0.99 - 0.01 * i for i in range(12)] + [0.7, 0.9, 0.8] + [0.999])
    agreement = np.array([1.0] * 15 + [0.5])
    vote = Vote(labels=labels, confidence=confidence, agreement=agreement)
    rule = get_selection("balanced")
    first = rule(vote, _ctx(round_=0))
    assert first.tolist() == [0, 1, 13]  # ceil(12/6) = 2 of class 0, ceil(3/6) = 1 of class 1, most confident first
    third = rule(vote, _ctx(round_=2))
    assert third.tolist() == [0, 1, 2, 3, 4, 5, 13, 14]  # half of each class
    assert 15 not in rule(vote, _ctx(round_=10)).tolist()  # disagreeing views never join, however confident
    assert len(rule(vote, _ctx(round_=10))) == 15
    summary = per_class_summary(vote, first, ["a", "b"])
    assert summary[0] == {"class": "a", "voted": 13, "taken": 2, "min_confidence": 0.98, "mean_confidence": 0.985,
                          "mean_agreement": 1.0}
    assert summary[1]["taken"] == 1 and summary[1]["min_confidence"] == 0.9


def test_prior_rule_follows_the_estimated_class_shares_and_grows_each_round():
    # 60 images: the soft vote says 80% class 0, 20% class 1; class 2 is voted for by nobody.
    labels = np.array([0] * 48 + [1] * 12)
    confidence = np.linspace(0.99, 0.5, 60)
    vote = Vote(labels=labels, confidence=confidence, agreement=np.ones(60), share=np.array([0.8, 0.2, 0.0]))
    rule = get_selection("prior")
    first = rule(vote, _ctx(round_=0, n_classes=3))  # 1/6 of the pool: 8 of class 0, 2 of class 1
    assert first.tolist() == list(range(8)) + [48, 49]  # the most confident of each predicted class
    later = rule(vote, _ctx(round_=2, n_classes=3))  # half the pool: 24 and 6
    assert np.bincount(labels[later], minlength=3).tolist() == [24, 6, 0]
    # what a chain already holds counts: in round 2 with 8 + 2 taken before, and 50 images left to vote on
    rest = Vote(labels=labels[10:], confidence=confidence[10:], agreement=np.ones(50), share=np.array([0.8, 0.2, 0]))
    top_up = rule(rest, SelectionContext(round=2, n_classes=3, threshold=0.8, taken=np.array([8, 2, 0])))
    assert np.bincount(labels[10:][top_up], minlength=3).tolist() == [16, 4, 0]
    # a rare class is never filled with more than its voters, and no class is forced
    rare = Vote(labels=np.array([0] * 9 + [1]), confidence=np.full(10, 0.9), agreement=np.ones(10),
                share=np.array([0.5, 0.5]))
    assert np.bincount(labels := rare.labels[rule(rare, _ctx(round_=10))], minlength=2).tolist() == [5, 1]


def test_selection_rules_are_a_registry():
    assert list_selections() == ["threshold", "balanced", "prior"]
    with pytest.raises(Exception, match="unknown selection rule 'greedy'"):
        get_selection("greedy")
