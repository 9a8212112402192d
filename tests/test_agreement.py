"""Agreement statistics against the textbooks' worked examples (in-process: pure functions)."""

from __future__ import annotations

from collections import Counter

import pytest

from gateway.human.agreement import agreement, cohen_kappa, fleiss_kappa, krippendorff_alpha

# Fleiss (1971) as worked in Wikipedia's "Fleiss' kappa": 10 items, 14 raters, 5 categories.
FLEISS_TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]

# Krippendorff, "Computing Krippendorff's Alpha-Reliability" (2011), section C:
# 4 observers, 12 units, missing values as None. Nominal alpha 0.743, interval 0.849.
KRIPPENDORFF_DATA = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
}


def cohen_pairs() -> list[tuple[str, str]]:
    # Wikipedia's "Cohen's kappa" example: 50 proposals, yes/yes 20, yes/no 5,
    # no/yes 10, no/no 15 -> p_o 0.7, p_e 0.5, kappa 0.4.
    return [("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10 + [("no", "no")] * 15


def test_cohen_kappa_matches_the_worked_example() -> None:
    assert cohen_kappa(cohen_pairs()) == pytest.approx(0.4)


def test_fleiss_kappa_matches_the_worked_example() -> None:
    counts = [dict(enumerate(row)) for row in FLEISS_TABLE]
    assert fleiss_kappa(counts) == pytest.approx(0.210, abs=5e-4)


def units() -> list[list[int]]:
    columns = zip(*KRIPPENDORFF_DATA.values(), strict=True)
    return [[value for value in column if value is not None] for column in columns]


def test_krippendorff_alpha_nominal_and_interval_match_the_paper() -> None:
    assert krippendorff_alpha(units(), "nominal") == pytest.approx(0.743, abs=5e-4)
    assert krippendorff_alpha(units(), "interval") == pytest.approx(0.849, abs=5e-4)


def test_perfect_agreement_is_one_and_chance_level_is_about_zero() -> None:
    assert cohen_kappa([("a", "a"), ("b", "b"), ("a", "a")]) == pytest.approx(1.0)
    # Rater two says the opposite half the time, independently of rater one.
    pairs = [("a", "a"), ("a", "b"), ("b", "a"), ("b", "b")]
    assert cohen_kappa(pairs) == pytest.approx(0.0)


def test_undefined_when_everyone_always_gives_the_same_value() -> None:
    assert cohen_kappa([("good", "good")] * 5) is None
    assert fleiss_kappa([Counter({"good": 3})] * 4) is None
    assert krippendorff_alpha([["good", "good"]] * 4) is None


def test_fleiss_refuses_uneven_ratings() -> None:
    with pytest.raises(ValueError):
        fleiss_kappa([Counter({"a": 2}), Counter({"a": 3})])


def test_agreement_picks_cohen_for_two_reviewers() -> None:
    items = [{"ann": a, "bob": b} for a, b in cohen_pairs()] + [{"ann": "yes"}]
    result = agreement(items)
    assert (result.method, result.items, result.reviewers) == ("cohen_kappa", 50, 2)
    assert result.value == pytest.approx(0.4)


def test_agreement_picks_fleiss_for_even_ratings_by_more_reviewers() -> None:
    # Three reviewers per item, five people taking turns.
    people = ["a", "b", "c", "d", "e"]
    values = [["x", "x", "y"], ["x", "x", "x"], ["y", "y", "x"], ["y", "y", "y"]]
    items = [
        {people[(i + j) % 5]: value for j, value in enumerate(row)} for i, row in enumerate(values)
    ]
    result = agreement(items)
    assert (result.method, result.items, result.reviewers) == ("fleiss_kappa", 4, 5)
    assert result.value == pytest.approx(fleiss_kappa([Counter(row) for row in values]))


def test_agreement_uses_krippendorff_for_uneven_ratings_and_scales() -> None:
    items = [
        {name: values[i] for name, values in KRIPPENDORFF_DATA.items() if values[i] is not None}
        for i in range(12)
    ]
    nominal = agreement(items)
    assert (nominal.method, nominal.items, nominal.reviewers) == ("krippendorff_alpha", 11, 4)
    assert nominal.value == pytest.approx(0.743, abs=5e-4)
    assert agreement(items, "interval").value == pytest.approx(0.849, abs=5e-4)
    assert agreement([{"ann": 3, "bob": 4}, {"ann": 1, "bob": 1}], "interval").method == (
        "krippendorff_alpha"
    )
