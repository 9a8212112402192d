"""Grades checked against rubrics, and the review keys of the config (in-process: pure code)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from gateway.config import ConfigError, RubricConfig, load_config
from gateway.errors import GatewayError
from gateway.human.grades import read_grade

RUBRIC = RubricConfig.model_validate(
    {
        "items": [
            {"name": "accurate", "type": "bool"},
            {"name": "tone", "type": "scale", "min": 1, "max": 5},
            {"name": "topic", "type": "choice", "options": ["billing", "tech"]},
            {"name": "notes", "type": "text"},
        ]
    }
)
GOOD_SCORES = {"accurate": True, "tone": 4, "topic": "tech"}


def grade(data: object, rubric: RubricConfig | None = RUBRIC) -> object:
    return read_grade(orjson.dumps(data), rubric, "support" if rubric else None)


def refusal(data: object, rubric: RubricConfig | None = RUBRIC) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        grade(data, rubric)
    return caught.value


def test_a_grade_that_fits_the_rubric_is_read_whole() -> None:
    got = grade(
        {"verdict": "bad", "scores": {**GOOD_SCORES, "notes": "curt"}, "comment": "wrong plan",
         "correction": {"content": "Better."}}
    )  # fmt: skip
    assert got.verdict == "bad"  # type: ignore[attr-defined]
    assert got.scores == {**GOOD_SCORES, "notes": "curt"}  # type: ignore[attr-defined]
    assert got.correction == {"content": "Better."}  # type: ignore[attr-defined]
    # A text item may be left out; the others may not.
    assert grade({"verdict": "good", "scores": GOOD_SCORES}).scores == GOOD_SCORES  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("scores", "param", "words"),
    [
        ({**GOOD_SCORES, "tone": 9}, "scores.tone", "outside 1 to 5"),
        ({**GOOD_SCORES, "tone": True}, "scores.tone", "whole number"),
        ({**GOOD_SCORES, "tone": 2.5}, "scores.tone", "whole number"),
        ({**GOOD_SCORES, "accurate": "yes"}, "scores.accurate", "true or false"),
        ({**GOOD_SCORES, "topic": "sales"}, "scores.topic", "billing, tech"),
        ({**GOOD_SCORES, "notes": 3}, "scores.notes", "text"),
        ({**GOOD_SCORES, "speed": 3}, "scores.speed", "not an item of rubric 'support'"),
        ({"accurate": True, "topic": "tech"}, "scores.tone", "missing"),
    ],
)
def test_scores_that_do_not_fit_get_a_422_naming_the_item(
    scores: dict[str, object], param: str, words: str
) -> None:
    error = refusal({"verdict": "good", "scores": scores})
    assert (error.status, error.param, error.code) == (422, param, "invalid_grade")
    assert words in error.message and param in error.message


@pytest.mark.parametrize(
    ("data", "param"),
    [
        ({"scores": GOOD_SCORES}, "verdict"),
        ({"verdict": "meh", "scores": GOOD_SCORES}, "verdict"),
        ({"verdict": "good", "scores": GOOD_SCORES, "comment": 5}, "comment"),
        ({"verdict": "good", "scores": GOOD_SCORES, "correction": "text"}, "correction"),
        ({"verdict": "good", "scores": [1]}, "scores"),
        ({"verdict": "good", "scores": GOOD_SCORES, "score": 1}, "score"),
        (["good"], "body"),
    ],
)
def test_other_mistakes_name_their_key(data: object, param: str) -> None:
    error = refusal(data)
    assert (error.status, error.param) == (422, param)


def test_without_a_rubric_only_a_verdict_is_taken() -> None:
    assert grade({"verdict": "good"}, None).scores == {}  # type: ignore[attr-defined]
    assert refusal({"verdict": "good", "scores": {"x": 1}}, None).param == "scores.x"


def test_bad_json_is_a_400() -> None:
    with pytest.raises(GatewayError) as caught:
        read_grade(b"{", RUBRIC, "support")
    assert caught.value.status == 400


UPSTREAM = '[upstreams.u]\nbase_url = "http://127.0.0.1:9/v1"\n'
TOKENS = '[auth]\nreviewer_tokens = { ann = { token = "t1", groups = ["legal"] }, bob = "t2" }\n'
RUBRICS = '[rubrics.support]\nitems = [{ name = "ok", type = "bool" }]\n'
HYBRID = '[models.m]\nupstream = "u"\n'


def config_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    return str(caught.value)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (HYBRID + 'human = "shadow"\n', "models.m.shadow_sample: a shadow model needs it"),
        (HYBRID + 'human = "shadow"\nshadow_sample = 1.5\n', "models.m.shadow_sample"),
        (HYBRID + 'human = "escalate"\nrubric = "support"\n', "models.m.rubric: grades shadow"),
        (HYBRID + 'human = "escalate"\nshadow_sample = 0.1\nrubric = "nope"\n',
         "models.m.rubric: rubric 'nope' is not defined in [rubrics]"),
        (HYBRID + 'human = "shadow"\nshadow_sample = 0.1\nreviews = 0\n', "models.m.reviews"),
        (HYBRID + 'human = "shadow"\nshadow_sample = 0.1\non_timeout = "draft"\n',
         "models.m.on_timeout: does not apply to a shadow model"),
        (HYBRID + 'human = "escalate"\nreviewers = ["sales"]\n',
         "models.m.reviewers: no reviewer token in auth.reviewer_tokens has group 'sales'"),
        ('[models.h]\nroute = "human"\nreviewers = ["legal"]\nescalate_after_s = 60\n',
         "models.h.escalate_to: escalate_after_s and escalate_to go together"),
        ('[models.h]\nroute = "human"\nescalate_after_s = 60\nescalate_to = ["legal"]\n',
         "models.h.escalate_to: widens 'reviewers'"),
        ('[models.h]\nroute = "human"\nshadow_sample = 0.5\n',
         "models.h.shadow_sample: does not apply to a human model"),
        ('[auth]\nreviewer_tokens = { ann = { token = "t", groups = [] } }\n',
         "auth.reviewer_tokens.ann"),
        ('[rubrics.r]\nitems = [{ name = "tone", type = "scale", min = 1 }]\n',
         "rubrics.r.items.0.max: a scale needs it"),
        ('[rubrics.r]\nitems = [{ name = "tone", type = "scale", min = 5, max = 1 }]\n',
         "rubrics.r.items.0.max: must be greater than min"),
        ('[rubrics.r]\nitems = [{ name = "c", type = "choice", options = ["a"] }]\n',
         "rubrics.r.items.0.options: a choice needs at least two options"),
        ('[rubrics.r]\nitems = [{ name = "b", type = "bool", options = ["a", "b"] }]\n',
         "rubrics.r.items.0.options: does not apply to a bool item"),
        ('[rubrics.r]\nitems = [{ name = "b", type = "stars" }]\n', "rubrics.r.items.0.type"),
        ('[rubrics.r]\nitems = [{ name = "b", type = "bool" }, { name = "b", type = "text" }]\n',
         "rubrics.r.items: item name 'b' is used twice"),
    ],
)  # fmt: skip
def test_review_config_mistakes_name_the_key(tmp_path: Path, text: str, line: str) -> None:
    auth = "" if text.startswith("[auth]") else TOKENS
    message = config_error(tmp_path, UPSTREAM + RUBRICS + auth + text)
    assert line in message, message


def test_review_config_reads(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        UPSTREAM + TOKENS + RUBRICS + HYBRID
        + 'human = "shadow"\nshadow_sample = 0.25\nrubric = "support"\nreviews = 2\n'
        + 'reviewers = ["legal"]\n'
        + '[models.h]\nroute = "human"\nreviewers = ["legal"]\nescalate_after_s = 30\n'
        + 'escalate_to = ["legal"]\n'
    )  # fmt: skip
    config = load_config(path, {})
    assert config.auth.reviewer_groups == {"ann": frozenset({"legal"}), "bob": None}
    assert config.auth.reviewer_secrets == {"ann": "t1", "bob": "t2"}
    model = config.models["m"]
    assert (model.kind, model.shadow_sample, model.rubric, model.reviews) == (
        "hybrid",
        0.25,
        "support",
        2,
    )
    assert config.models["h"].escalate_after_s == 30
