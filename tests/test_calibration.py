"""The calibration report's arithmetic and its chart (pure functions)."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import pytest

from gateway.export.calibration import calibrate, rate_at, table
from gateway.export.chart import calibration_svg

# Ten drafts at confidence 0.05, 0.15, ..., 0.95; those under 0.5 were all wrong.
KNOWN = [((i + 0.5) / 10, i >= 5) for i in range(10)]


def test_target_error_picks_the_lowest_threshold_that_meets_it():
    report = calibrate("m", KNOWN, target_error=0.0)
    # Escalating everything under 0.55 stops every wrong draft and no right one.
    assert report.chosen.threshold == pytest.approx(0.55)
    assert report.chosen.escalation_rate == pytest.approx(0.5)
    assert report.chosen.error_rate == 0.0
    loose = calibrate("m", KNOWN, target_error=0.2)
    assert loose.chosen.threshold == pytest.approx(0.35)  # two wrong drafts may pass
    assert loose.chosen.error_rate == pytest.approx(0.2)


def test_target_escalation_picks_the_highest_threshold_that_meets_it():
    report = calibrate("m", KNOWN, target_escalation=0.3)
    assert report.chosen.threshold == pytest.approx(0.35)
    assert (report.chosen.escalation_rate, report.chosen.error_rate) == pytest.approx((0.3, 0.2))
    assert calibrate("m", KNOWN, target_escalation=1.0).chosen.threshold == 1.0


def test_reliability_bins_and_rates():
    report = calibrate("m", KNOWN)
    assert [b.count for b in report.bins] == [1] * 10
    assert [b.rate for b in report.bins] == [0.0] * 5 + [1.0] * 5
    assert rate_at(report.curve, 0.0).escalation_rate == 0.0
    assert rate_at(report.curve, 0.0).error_rate == pytest.approx(0.5)
    assert rate_at(report.curve, 1.0).escalation_rate == 1.0
    assert "min_confidence" in table(report)


def test_no_data_and_unreachable_targets():
    empty = calibrate("m", [], target_error=0.0)
    assert empty.samples == 0 and empty.chosen is None and empty.curve == []
    all_wrong_at_one = calibrate("m", [(1.0, False)], target_error=0.0)
    assert all_wrong_at_one.chosen is None  # even min_confidence 1 lets it pass


def test_the_chart_is_well_formed_svg_with_escaped_names():
    svg = calibration_svg([calibrate("<b>&model", KNOWN, target_error=0.0, current=0.7)])
    root = ElementTree.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = [el.text or "" for el in root.iter("{http://www.w3.org/2000/svg}text")]
    assert any(text.startswith("<b>&model") for text in texts)
    assert "<b>" not in svg.replace("&lt;b&gt;", "")
    assert len(list(root.iter("{http://www.w3.org/2000/svg}circle"))) == 10
    assert "suggested 0.55" in svg and "configured 0.70" in svg
    ElementTree.fromstring(calibration_svg([]))
