"""One plan for the whole run: the work left from where the run stands (:class:`~.progress.Reporter`).

Made when the run starts, from what it knows then (every body to convert, every feature the store lacks under
every candidate view, every candidate's fits over every round, the labelling passes, the student's activations and
its first estimate, the saving), and revised as it
learns: views dropped on the held-out labels, candidates halved or stopped, automatic labels taken. Revisions mostly
remove work, so the fraction shown moves forward; the rates are measured as the work is done.
"""
from __future__ import annotations

from .chains import MAX_FIT_ROWS
from .progress import fit_units
from .student_step import estimate_labels, expect_student

DEFAULT_TAKE = 0.5  # share of the remaining pool a round is expected to label before one has been measured
# Each later round takes about this share of the one before's share of what remains: the confident images go first
# (Fashion-MNIST at k = 5: 0.29, 0.15, 0.075, 0.055 of the remaining pool; flowers5: 0.29, 0.16, 0.075). On the
# shared sets' rounds (16 seed-0 runs, every round), the automatic labels still to come were predicted with a
# median error of 19% at 0.6 (0.5: 25%, 0.7: 23%); at the last round's share for every round to come, 62%, and
# refits were planned 1.6-2.7x too dear.
TAKE_DECAY = 0.6


def expect_rest(inputs, views, candidates, strategy) -> None:
    """Revise the plan of head fits and labelling passes from the candidates' state (features are planned by
    :meth:`RunInputs.expect_features`)."""
    report = inputs.report
    active = [c for c in candidates if c.active]
    if not active or inputs.cfg.head == "finetune":
        for kind in ("fit", "refit", "vote"):
            report.expect(kind, 0.0)
        return
    # The student learns from the automatic labels of the kept candidate, the default's as expected now: planned
    # where the next round's already give it enough images (the later rounds take fewer and fewer, so a plan on
    # the last round's expectation planned students that never ran), sized on the last round's.
    pool, n_views = len(inputs.pool_idx), len(views.train)
    likely = next((c for c in active if c.spec.default), max(active, key=lambda c: c.spec.max_rounds))
    soon = _expected_auto(likely, min(likely.rs.next_round + 1, likely.spec.max_rounds), pool)
    expect_student(inputs, views, len(inputs.train_idx), _expected_auto(likely, likely.spec.max_rounds, pool),
                   *estimate_labels(likely), automatic_soon=soon)
    combos_per = {id(c): len(c.spec.backbones) * len(c.spec.label_views) for c in active}
    first_unjudged = min(len(c.rs.history) for c in active)
    last = max(c.spec.max_rounds for c in active)
    fits = refits = votes = 0.0  # round 0's first fits; the later rounds' warm-started ones
    shared_round0 = set()
    for r in range(min(c.rs.next_round for c in active), last + 1):
        alive = [c for c in strategy.expected(active, first_unjudged, r) if r <= c.spec.max_rounds]
        for c in alive:
            if r >= len(c.rs.history):  # its fits of round r are still to come
                rows = min(MAX_FIT_ROWS, (len(c.main.train_idx) + _expected_auto(c, r, pool)) * n_views)
                per_chain = fit_units(rows, inputs.n_classes)
                if r == 0:  # round 0 is shared by every candidate
                    new = [b for b in c.spec.backbones if b not in shared_round0]
                    shared_round0.update(new)
                    fits += per_chain * len(new) * len(inputs.chains)
                else:
                    refits += per_chain * len(c.spec.backbones) * len(inputs.chains)
        for c in alive:  # each chain's models x views score the pool images it has not labelled yet
            if c.rs.next_round <= r < c.spec.max_rounds:
                votes += (pool - _expected_auto(c, r, pool)) * combos_per[id(c)] * len(c.chains)
    report.expect("fit", fits)
    report.expect("refit", refits)
    report.expect("vote", votes)


def _expected_auto(cand, r: int, pool: int) -> int:
    """Automatic labels the candidate's chains are expected to train on in round ``r``: what its main chain holds,
    plus, for each labelling to come, a share of the remaining pool: the share its last round took (or
    ``DEFAULT_TAKE``), decaying by ``TAKE_DECAY`` a round."""
    have = len(cand.main.auto_idx)
    if r <= cand.rs.next_round or not pool:
        return have if r >= 1 else 0
    last = next((h for h in reversed(cand.rs.history) if h.get("remaining_before")), None)
    take = last["labelled"] / last["remaining_before"] * TAKE_DECAY if last else DEFAULT_TAKE
    remaining = float(pool - have)
    for step in range(r - cand.rs.next_round):
        remaining *= 1 - take * TAKE_DECAY ** step
    return int(pool - remaining)
