"""AutoML's candidates as a table: the same rows in report.html, report.md and the command line's summary."""
from __future__ import annotations

HEADER = ["candidate", "estimate per round", "kept round", "estimate", "automatic labels", "stopped", "chosen"]


def candidate_rows(m: dict) -> list[list[str]]:
    """One row per candidate AutoML tried (none for a run of a named process)."""
    auto = m.get("automl") or {}
    return [[c["name"], " ".join(f"{e:.3f}" for e in c.get("estimates") or []) or "-", str(c.get("kept_round", "-")),
             f"{c['estimate']:.3f}" if c.get("estimate", -1) >= 0 else "-", str(c.get("automatic_labels", 0)),
             c.get("stop_reason") or "-", "yes" if c["name"] == auto.get("chosen") else ""]
            for c in auto.get("candidates") or []]


def choice_text(m: dict) -> str:
    """One sentence: what AutoML kept, and why."""
    auto = m.get("automl") or {}
    if not auto:
        return ""
    n = len(auto.get("candidates") or [])
    budget = f"; time budget {auto['time_budget_s']} s" if auto.get("time_budget_s") else ""
    return f"AutoML tried {n} candidates and kept {auto.get('chosen')}: {auto.get('reason')}{budget}"
