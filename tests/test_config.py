"""Start-up and configuration, as a user meets them on the command line.

A bad config must stop ``python -m gateway`` with a non-zero exit and one line
naming the file and the key; the flags and ``GATEWAY_CONFIG`` must pick what runs.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from harness import Gateway, free_port, run_gateway, wait_until

from gateway.config import ConfigError, load_config
from gateway.hybrid.policy import Policy

UPSTREAM = '[upstreams.local]\nbase_url = "http://127.0.0.1:9/v1"\n'


def start_with_bad_config(tmp_path: Path, text: str, *flags: str) -> tuple[int, list[str], Path]:
    """Run the CLI on ``text``; return its exit code, its non-empty output lines, the file."""
    path = tmp_path / "bad.toml"
    path.write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HITL_TEST_")}
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(path), "--port", "1", *flags],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        cwd=tmp_path,
    )
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return done.returncode, lines, path


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        pytest.param("[server]\nbogus = 1\n", "server.bogus", "unknown key", id="unknown-key"),
        pytest.param(
            UPSTREAM + '[models.small]\nupstream = "local"\ncolour = "red"\n',
            "models.small.colour",
            "unknown key",
            id="unknown-key-in-model",
        ),
        pytest.param('[server]\nport = "eighty"\n', "server.port", "integer", id="wrong-type"),
        pytest.param("[mcp]\nprogress = 5\n", "mcp.progress", "unknown key", id="mcp-unknown"),
        pytest.param("[mcp]\ntimeout_s = 0\n", "mcp.timeout_s", "greater than 0", id="mcp-value"),
        pytest.param(
            UPSTREAM + 'timeout_s = "soon"\n',
            "upstreams.local.timeout_s",
            "number",
            id="wrong-type-in-upstream",
        ),
        pytest.param(
            UPSTREAM + '[models.small]\nupstream = "local"\nmin_confidence = 0.5\n',
            "models.small.min_confidence",
            "does not apply to a forward model",
            id="hybrid-key-on-a-forward-model",
        ),
        pytest.param(
            '[models.helper]\nroute = "human"\nreview_tools = ["send_*"]\n',
            "models.helper.review_tools",
            "does not apply to a human model",
            id="hybrid-key-on-a-human-model",
        ),
        pytest.param(
            '[models.small]\nupstream = "nowhere"\n',
            "models.small.upstream",
            "nowhere",
            id="undefined-upstream",
        ),
        pytest.param(
            UPSTREAM + '[models.small]\nupstream = "local"\nfallbacks = ["ghost"]\n',
            "models.small.fallbacks",
            "ghost",
            id="undefined-fallback",
        ),
        pytest.param(
            UPSTREAM + 'api_key = "${HITL_TEST_UNSET_KEY}"\n',
            "upstreams.local.api_key",
            "HITL_TEST_UNSET_KEY",
            id="missing-env-var",
        ),
        pytest.param(
            '[auth]\nclient_keys = ["${HITL_TEST_UNSET_KEY}"]\n',
            "auth.client_keys",
            "HITL_TEST_UNSET_KEY",
            id="missing-env-var-in-list",
        ),
        pytest.param(
            '[server]\nhost = "0.0.0.0"\n', "server.host", "client_keys", id="open-non-loopback"
        ),
        pytest.param(
            '[server]\nhost = "0.0.0.0"\n[auth]\nclient_keys = ["sk-public"]\n',
            "server.host",
            "auth.reviewer_tokens is empty",
            id="open-reviewer-side",
        ),
        pytest.param(
            '[server]\nhost = "0.0.0.0"\n[auth]\nreviewer_tokens = { alice = "t" }\n',
            "server.host",
            "auth.client_keys is empty",
            id="open-client-side",
        ),
    ],
)
def test_bad_config_stops_startup_with_one_line_naming_file_and_key(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    code, lines, path = start_with_bad_config(tmp_path, text)
    assert code != 0
    assert len(lines) == 1, lines
    assert str(path) in lines[0]
    assert key in lines[0]
    assert problem in lines[0]


def test_host_flag_makes_an_open_gateway_refuse_a_non_loopback_address(tmp_path: Path) -> None:
    code, lines, path = start_with_bad_config(tmp_path, "[server]\n", "--host", "0.0.0.0")
    assert code != 0
    assert len(lines) == 1 and str(path) in lines[0] and "server.host" in lines[0]


def test_missing_config_file_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(missing)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode != 0
    assert len(lines) == 1 and str(missing) in lines[0]


def get_json(url: str, key: str | None = None) -> dict:
    request = urllib.request.Request(url)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    with urllib.request.urlopen(request, timeout=5) as reply:
        return json.loads(reply.read())


def model_ids(gateway: Gateway, key: str | None = None) -> set[str]:
    return {model["id"] for model in get_json(gateway.base_url + "/models", key)["data"]}


def test_startup_prints_api_base_url_and_dashboard_url(tmp_path: Path) -> None:
    with run_gateway(tmp_path, "") as gateway:
        wait_until(lambda: len(gateway.output) >= 3, 5, what="start-up lines")
        text = "".join(gateway.output)
        assert gateway.base_url in text
        # The Anthropic SDK's and Claude Code's ANTHROPIC_BASE_URL: the root, no /v1.
        assert any(
            line.rstrip().endswith(gateway.url) and "Anthropic" in line for line in gateway.output
        )
        assert any(
            gateway.url + "/" in line and "dashboard" in line.lower() for line in gateway.output
        )


def test_env_var_expands_into_client_keys(tmp_path: Path) -> None:
    config = '[auth]\nclient_keys = ["${HITL_GATEWAY_TEST_KEY}"]\n'
    with run_gateway(tmp_path, config, env={"HITL_GATEWAY_TEST_KEY": "sk-from-env"}) as gateway:
        assert "human" in model_ids(gateway, "sk-from-env")
        with pytest.raises(urllib.error.HTTPError) as refused:
            model_ids(gateway, "${HITL_GATEWAY_TEST_KEY}")
        assert refused.value.code == 401


def test_gateway_config_env_var_picks_the_config(tmp_path: Path) -> None:
    path = tmp_path / "from-env.toml"
    path.write_text(
        UPSTREAM + '[models.env-model]\nupstream = "local"\n'
        f'[store]\npath = "{tmp_path / "gateway.db"}"\n'
    )
    gateway = Gateway(None, free_port(), env={"GATEWAY_CONFIG": str(path)}, cwd=tmp_path)
    gateway.start()
    try:
        assert model_ids(gateway) == {"env-model", "human"}
    finally:
        gateway.stop()


def test_without_config_model_human_is_served(tmp_path: Path) -> None:
    env = {"GATEWAY_CONFIG": ""}  # argparse default: empty means no file
    gateway = Gateway(None, free_port(), env=env, cwd=tmp_path)
    gateway.start()
    try:
        assert model_ids(gateway) == {"human"}
        assert (tmp_path / "hitl-gateway.db").exists()  # the default store, in the cwd
    finally:
        gateway.stop()


def test_host_and_port_flags_override_the_config(tmp_path: Path) -> None:
    # The file asks for an open public address and another port; the flags win:
    # the gateway starts on loopback (no exposure error) on the flag's port.
    path = tmp_path / "flags.toml"
    path.write_text(
        f'[server]\nhost = "0.0.0.0"\nport = {free_port()}\n'
        f'[store]\npath = "{tmp_path / "flags.db"}"\n'
    )
    gateway = Gateway(path, free_port(), args=["--host", "127.0.0.1"])
    gateway.start()  # waits for /healthz on 127.0.0.1 at the flag's port
    try:
        assert "human" in model_ids(gateway)
        assert any(f"http://127.0.0.1:{gateway.port}/v1" in line for line in gateway.output)
    finally:
        gateway.stop()


def test_allow_open_serves_a_non_loopback_address_without_keys(tmp_path: Path) -> None:
    config = '[server]\nhost = "0.0.0.0"\nallow_open = true\n'
    with run_gateway(tmp_path, config) as gateway:
        assert "human" in model_ids(gateway)


def test_client_keys_and_reviewer_tokens_let_a_non_loopback_address_start(
    tmp_path: Path,
) -> None:
    config = (
        '[server]\nhost = "0.0.0.0"\n[auth]\nclient_keys = ["sk-public"]\n'
        'reviewer_tokens = { alice = "tok-alice" }\n'
    )
    with run_gateway(tmp_path, config) as gateway:
        assert "human" in model_ids(gateway, "sk-public")


DOCKER_CONFIG = Path(__file__).parent.parent / "config" / "docker.toml"


def test_the_docker_config_exists_and_needs_its_two_variables(tmp_path: Path) -> None:
    """The Docker section's config: serves on 0.0.0.0 given GATEWAY_KEY and REVIEWER_TOKEN."""
    from gateway.config import ConfigError, load_config

    env = {"GATEWAY_KEY": "sk-docker", "REVIEWER_TOKEN": "rt-docker"}
    config = load_config(DOCKER_CONFIG, env)
    config.check_exposure()  # 0.0.0.0 with both doors locked: allowed
    assert config.server.host == "0.0.0.0" and config.auth.client_keys == ["sk-docker"]
    assert config.store.path == "/data/hitl-gateway.db"
    for missing in env:
        with pytest.raises(ConfigError, match=missing):
            load_config(DOCKER_CONFIG, {k: v for k, v in env.items() if k != missing})
    dockerfile = (DOCKER_CONFIG.parent.parent / "Dockerfile").read_text()
    assert "ENV GATEWAY_CONFIG=/app/config/docker.toml" in dockerfile


def test_human_fallback_is_read_as_rescue_with_a_deprecation_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "old.toml"
    model = '[models."m+human"]\nupstream = "local"\nhuman = "{mode}"\n'
    path.write_text(UPSTREAM + model.format(mode="fallback"))
    with caplog.at_level(logging.WARNING, logger="gateway.config"):
        old = load_config(path)
    assert old.models["m+human"].human == "rescue"
    [warning] = [r for r in caplog.records if r.name == "gateway.config"]
    assert warning.levelno == logging.WARNING
    assert 'models.m+human.human = "fallback" is deprecated: write "rescue"' in warning.message
    # The same policy as the new word: a person only when the model fails.
    policy = Policy(old.models["m+human"])
    assert policy.on_failure() and not policy.needs_answer

    caplog.clear()
    path.write_text(UPSTREAM + model.format(mode="rescue"))
    with caplog.at_level(logging.WARNING, logger="gateway.config"):
        assert load_config(path) == old
    assert not [r for r in caplog.records if r.name == "gateway.config"]

    path.write_text(UPSTREAM + model.format(mode="rescued"))
    with pytest.raises(ConfigError, match=r"models\.m\+human\.human"):
        load_config(path)
