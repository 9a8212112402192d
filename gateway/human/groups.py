"""Reviewer groups: which reviewers see a task.

A task carries the groups of its model's ``reviewers`` (plus ``escalate_to`` once
escalated); a reviewer token carries its reviewer's groups. A plain token, or no
tokens at all, means every group. Outside a task's groups the task is absent:
the reviewer API answers 404 for it and leaves it out of every list.
"""

from __future__ import annotations

from collections.abc import Sequence

Groups = frozenset[str] | None  # a reviewer's groups; None: every group


def sees(reviewer: Groups, task: Sequence[str]) -> bool:
    """Whether a reviewer in ``reviewer`` groups sees a task limited to ``task`` groups."""
    return reviewer is None or not task or not reviewer.isdisjoint(task)
