"""Which candidates a run tries and which one it keeps: a strategy per kind of run, registered by name like the
selection rules.

* ``single``: a named process (N.D. ... I.M.D.D.) is one candidate, and it is kept.
* ``auto``: the AutoML of the paper's title. N.D. and every iterative process with every selection rule run side
  by side on the same cross-validation chains; features are cached, so a candidate costs only head fits, and
  round 0 (manual labels only) is fitted once for all. From round 1 on, successive halving: after each round the
  lower half of the candidates other than the default stop, by their best estimate (ties: the lower held-out
  log-loss); a candidate whose best estimate is out of reach of the leader's (more than two standard errors
  below) stops at once; ``time_budget`` stops them all. Nine candidates run round 1, five round 2, three round 3
  and two after that: 21 candidate-rounds instead of 45 (benchmarks/results/automl.md measures what it costs and
  what it keeps). The kept candidate is the best by its estimate, with a margin of
  one standard error (of the paired difference on the same held-out labels) that favours the default candidate,
  I.M.D.D. with the default selection rule: another candidate, N.D. included, replaces it only when its estimate
  is higher than the default's best estimate (over its rounds) by more than that margin. (Against the default's
  kept round instead, N.D. replaced it where the kept round sat within a standard error below round 0, which is
  N.D. itself: flowers5 at 5 labels per class lost 0.05.)

  Why the default and not the simplest: at 5 labels per class the estimate rests on 15 to 365 held-out labels,
  too few to see the gains self-training brings (+0.03 on average); keeping the simplest within noise kept N.D.
  in most runs and gained +0.001 over it on the shared sets, keeping the default gained +0.02 to +0.03
  (benchmarks/results/processes.md, the replay of the choice rules). Where the labels are many enough to tell,
  the estimate decides.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..errors import ConfigError
from .candidates import Candidate, CandidateSpec, spec_for
from .chains import standard_error
from .select import list_selections
from .views import paired_noise

OUT_OF_REACH_SE = 2.0  # a candidate this many standard errors below the leader's estimate stops


@dataclass
class Choice:
    kept: Candidate
    reason: str


class Single:
    """A named process: one candidate."""

    name = "single"

    def specs(self, cfg, views, has_pool: bool) -> list[CandidateSpec]:
        return [spec_for(cfg, cfg.process, cfg.selection, views)]

    def prune(self, candidates: list[Candidate], elapsed_s: float, budget_s: float | None) -> None:
        if budget_s and elapsed_s >= budget_s:
            for c in candidates:
                c.stop(f"the time budget of {budget_s:g} s was reached")

    def choose(self, candidates: list[Candidate]) -> Choice:
        return Choice(candidates[0], "the process asked for")

    def expected(self, active: list[Candidate], first_unjudged: int, upto: int) -> list[Candidate]:
        """Of ``active``, those expected to still run round ``upto`` (for the plan): all of them."""
        return active


class Auto(Single):
    """N.D. and the iterative processes with every rule; the best within noise, simplest first."""

    name = "auto"
    PROCESSES = ("idd", "imd", "imdd")

    def specs(self, cfg, views, has_pool: bool) -> list[CandidateSpec]:
        specs = [spec_for(cfg, "nd", "threshold", views)]
        if has_pool and cfg.max_iterations > 0:  # without unlabelled images, only N.D. can run
            specs += [spec_for(cfg, p, rule, views) for p in self.PROCESSES for rule in list_selections()]
        # the default: I.M.D.D. with the run's rule (the default rule unless one is named), else N.D.
        default = next((i for i, s in enumerate(specs) if (s.process, s.selection) == ("imdd", cfg.selection)), 0)
        specs[default] = dataclasses.replace(specs[default], default=True)
        return specs

    def prune(self, candidates: list[Candidate], elapsed_s: float, budget_s: float | None) -> None:
        super().prune(candidates, elapsed_s, budget_s)
        judged = [c for c in candidates if c.rs.history]
        if not judged:
            return
        leader = max(judged, key=lambda c: c.rs.best_accuracy)
        n = leader.rs.history[-1].get("estimate_images", 0)
        reach = leader.rs.best_accuracy - OUT_OF_REACH_SE * standard_error(leader.rs.best_accuracy, n)
        for c in judged:
            if c.active and c.rs.best_accuracy < reach:
                c.stop(f"out of reach: its best estimate {c.rs.best_accuracy:.3f} is more than "
                       f"{OUT_OF_REACH_SE:g} standard errors below {leader.spec.name}'s {leader.rs.best_accuracy:.3f}")
        # Successive halving: from round 1 on (round 0's models are shared, so its estimates are equal), each
        # round stops the lower half of the candidates other than the default, by their best estimate.
        rounds = max(len(c.rs.history) for c in judged) - 1
        ranked = self._ranked([c for c in judged if c.active and not c.spec.default and len(c.rs.history) > rounds])
        if rounds >= 1:
            for c in ranked[_halved(len(ranked)):]:
                c.stop(f"successive halving after round {rounds}: its best estimate {c.rs.best_accuracy:.3f} was in "
                       f"the lower half of the {len(ranked)} candidates beside the default")

    @staticmethod
    def _ranked(candidates: list[Candidate]) -> list[Candidate]:
        """Best estimate first; where equal (a handful of held-out labels ties often), the lower held-out log-loss,
        then the simpler candidate."""
        return sorted(candidates, key=lambda c: (-c.rs.best_accuracy, _kept_loss(c), c.spec.complexity))

    def expected(self, active: list[Candidate], first_unjudged: int, upto: int) -> list[Candidate]:
        """Of ``active``, those expected to still run round ``upto``: the default and the best others left after
        halving once per round judged from now to then."""
        others = self._ranked([c for c in active if not c.spec.default])
        n = len(others)
        for _ in range(max(1, first_unjudged), upto):
            n = _halved(n)
        return [c for c in active if c.spec.default] + others[:n]

    def choose(self, candidates: list[Candidate]) -> Choice:
        done = [c for c in candidates if c.rs.kept_round >= 0]
        default = next((c for c in done if c.spec.default), done[0])
        best = max(done, key=lambda c: (c.rs.estimate, c is default, [-x for x in c.spec.complexity]))
        if best is default:
            return Choice(default, f"the default, with the best estimate ({default.rs.estimate:.3f})")
        # Against the default's best estimate, not its kept round's: the kept round may sit up to a standard error
        # below the best (the loop's rule), and its round 0 is N.D. itself.
        noise = paired_noise(best.rs.kept_right, default.rs.kept_right)
        if best.rs.estimate > default.rs.best_accuracy + noise:
            return Choice(best, f"its estimate ({best.rs.estimate:.3f}) beat the default's best ({default.spec.name}: "
                                f"{default.rs.best_accuracy:.3f}) by more than noise ({noise:.3f})")
        return Choice(default, f"the default: no estimate beat its best ({default.rs.best_accuracy:.3f}) by more "
                               f"than noise (the best, {best.spec.name}: {best.rs.estimate:.3f}; noise {noise:.3f})")


def _kept_loss(c: Candidate) -> float:
    return c.rs.history[c.rs.kept_round].get("estimate_loss", 0.0) if c.rs.kept_round >= 0 else float("inf")


def _halved(n: int) -> int:
    return (n + 1) // 2


_STRATEGIES = {s.name: s for s in (Single(), Auto())}


def get_strategy(cfg) -> Single:
    name = "auto" if cfg.process == "auto" else "single"
    if name == "auto" and cfg.head != "linear":
        raise ConfigError("process 'auto' compares candidates on cross-validated linear heads; use --head linear, "
                          "or name a process (nd, idd, ...) for fine-tuned heads", field="process")
    return _STRATEGIES[name]
