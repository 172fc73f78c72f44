"""The channel config loader and ``waba-migrate config check``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from shim.cli import main
from shim.client import Client, Router
from shim.config import (
    CONFIG_ENV_VAR,
    SECRET_KEYS,
    ConfigError,
    MissingSecretError,
    load_config,
    parse_config,
)
from shim.mapping.hosts import DEFAULT_GRAPH_VERSION, Target
from shim.sandbox import RunningSandbox
from tests.client.conftest import LEGACY_KEY, ONPREM_KEY, channel_table

FULL = """
[channels.shop]
phone_number = "+4915112345678"
backend = "360dialog"
api_key = "env:SHOP_D360_KEY"
legacy_api_key = "env:SHOP_OLD_KEY"
base_url = "http://127.0.0.1:9001/"
mps = 200
forward_url = "http://127.0.0.1:8000/hook"
forward_headers = { "X-Token" = "env:FWD_TOKEN", "X-Tenant" = "env:FWD_TENANT" }
webhook_secret_header = "X-Shared"
webhook_secret = "env:SHOP_HOOK_SECRET"

[channels.shop.retry]
max_attempts = 2
backoff_base = 0.1

[channels.shop.timeouts]
read = 12.5

[channels.direct]
phone_number = "+4915112345679"
backend = "meta"
phone_number_id = "1234567890"
waba_id = "555"
access_token = "env:META_TOKEN"
app_secret = ["env:APP_SECRET_NEW", "env:APP_SECRET_OLD"]
verify_token = "env:VERIFY"
"""


def write(tmp_path: Path, text: str, name: str = "waba.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(exc: pytest.ExceptionInfo[ConfigError]) -> dict[str, str]:
    return dict(exc.value.problems)


def test_full_config_loads_with_defaults_and_derived_values(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, FULL))
    shop, direct = cfg.channels["shop"], cfg.channels["direct"]
    assert shop.backend is Target.D360
    assert shop.resolved_base_url == "http://127.0.0.1:9001"  # trailing slash dropped
    assert shop.mps == 200
    assert shop.retry.max_attempts == 2 and shop.retry.backoff_max == 30.0
    assert shop.timeouts.read == 12.5 and shop.timeouts.connect == 5.0
    assert str(shop.api_key) == "env:SHOP_D360_KEY"
    assert direct.graph_api_version == DEFAULT_GRAPH_VERSION
    assert direct.resolved_base_url == f"https://graph.facebook.com/{DEFAULT_GRAPH_VERSION}"
    assert direct.mps == 80
    assert [r.var for r in direct.app_secret] == ["APP_SECRET_NEW", "APP_SECRET_OLD"]
    assert cfg.channel("shop") is shop
    with pytest.raises(KeyError, match="several channels"):
        cfg.channel()


def test_secrets_resolve_lazily_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = load_config(write(tmp_path, FULL))  # no variable set: still loads
    shop = cfg.channels["shop"]
    with pytest.raises(MissingSecretError) as missing:
        shop.secret("api_key")
    assert "SHOP_D360_KEY" in str(missing.value) and "channels.shop.api_key" in str(missing.value)
    monkeypatch.setenv("SHOP_D360_KEY", "k-123")
    monkeypatch.setenv("FWD_TOKEN", "tok")
    monkeypatch.setenv("FWD_TENANT", "shop")
    monkeypatch.setenv("APP_SECRET_OLD", "old")
    assert shop.secret("api_key") == "k-123"
    assert shop.optional_secret("legacy_api_key") is None
    assert shop.resolved_forward_headers() == {"X-Token": "tok", "X-Tenant": "shop"}
    assert cfg.channels["direct"].app_secrets() == ["old"]
    assert shop.secret("api_key", {"SHOP_D360_KEY": "from-mapping"}) == "from-mapping"


def test_literal_secret_is_refused_naming_channel_and_key_without_echoing_it(
    tmp_path: Path,
) -> None:
    text = FULL.replace('"env:META_TOKEN"', '"EAAGliteralTOKENvalue"')
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert "channels.direct.access_token" in problems(exc)
    assert "literal secrets are refused" in problems(exc)["channels.direct.access_token"]
    assert str(path) in str(exc.value)
    assert "EAAGliteralTOKENvalue" not in str(exc.value)


@pytest.mark.parametrize(
    ("edit", "key", "fragment"),
    [
        (("mps = 200", "mps = 5000"), "channels.shop.mps", "less than or equal to 1000"),
        (("mps = 200", "mps = 0"), "channels.shop.mps", "greater than or equal to 1"),
        (("mps = 200", "colour = 1"), "channels.shop.colour", "unknown key"),
        (('backend = "meta"', 'backend = "cloud"'), "channels.direct.backend", "onprem"),
        (
            ("max_attempts = 2", "max_attempts = 0"),
            "channels.shop.retry.max_attempts",
            "greater than",
        ),
        (("read = 12.5", "read = -1"), "channels.shop.timeouts.read", "greater than 0"),
        (('"env:SHOP_D360_KEY"', '"env:1BAD"'), "channels.shop.api_key", "variable name"),
        (('"http://127.0.0.1:9001/"', '"ftp://x"'), "channels.shop.base_url", "http(s) URL"),
        (('phone_number_id = "1234567890"', ""), "channels.direct", "phone_number_id"),
        (('webhook_secret = "env:SHOP_HOOK_SECRET"', ""), "channels.shop", "go together"),
        (('"X-Token"', '"bad header"'), "channels.shop.forward_headers", "header name"),
    ],
)
def test_invalid_values_name_the_key(
    tmp_path: Path, edit: tuple[str, str], key: str, fragment: str
) -> None:
    old, new = edit
    assert old in FULL
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, FULL.replace(old, new, 1)))
    found = problems(exc)
    assert key in found, found
    assert fragment in found[key]


def test_graph_version_is_validated_and_pinned(tmp_path: Path) -> None:
    text = FULL.replace('waba_id = "555"', 'waba_id = "555"\ngraph_api_version = "latest"')
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, text))
    assert "channels.direct.graph_api_version" in problems(exc)
    text = FULL.replace('waba_id = "555"', 'waba_id = "555"\ngraph_api_version = "v21.0"')
    assert (
        load_config(write(tmp_path, text)).channels["direct"].resolved_base_url.endswith("/v21.0")
    )


def test_file_level_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match=r"invalid TOML: .*line 1"):
        load_config(write(tmp_path, "[channels.x\n"))
    with pytest.raises(ConfigError, match=r"no \[channels\.NAME\] table"):
        load_config(write(tmp_path, "title = 1\n"))
    monkeypatch.delenv(CONFIG_ENV_VAR, raising=False)
    with pytest.raises(ConfigError, match=CONFIG_ENV_VAR):
        load_config()


def test_default_file_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, FULL)
    monkeypatch.setenv(CONFIG_ENV_VAR, str(path))
    assert set(load_config().channels) == {"shop", "direct"}


def test_backend_switch_is_a_one_line_edit() -> None:
    table = {"phone_number": "+491511", "backend": "360dialog", "api_key": "env:K"}
    assert parse_config({"channels": {"a": table}}).channel().backend is Target.D360
    onprem = parse_config({"channels": {"a": {**table, "backend": "onprem"}}}).channel()
    assert onprem.backend is Target.ONPREM
    assert onprem.resolved_base_url == "https://waba.360dialog.io"


# -- the CLI -----------------------------------------------------------------


def test_config_check_reports_channels_and_redacts_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_D360_KEY", "super-secret-value-1")
    monkeypatch.setenv("META_TOKEN", "super-secret-value-2")
    result = CliRunner().invoke(main, ["config", "check", str(write(tmp_path, FULL))])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "channel shop: 360dialog -> http://127.0.0.1:9001" in out
    assert f"channel direct: meta -> https://graph.facebook.com/{DEFAULT_GRAPH_VERSION}" in out
    assert "env:SHOP_D360_KEY (set" in out
    assert "env:SHOP_OLD_KEY (MISSING" in out
    assert "super-secret-value" not in out


def test_config_check_json_and_require_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_D360_KEY", "super-secret-value-1")
    path = str(write(tmp_path, FULL))
    result = CliRunner().invoke(main, ["config", "check", path, "--json"])
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert report["channels"]["shop"]["env"]["api_key"] == {"var": "SHOP_D360_KEY", "set": True}
    assert report["channels"]["direct"]["env"]["access_token"]["set"] is False
    assert "super-secret-value" not in result.output
    strict = CliRunner().invoke(main, ["config", "check", path, "--require-env"])
    assert strict.exit_code == 1


def test_config_check_invalid_file_exits_1_with_located_errors(tmp_path: Path) -> None:
    path = write(tmp_path, FULL.replace('"env:SHOP_OLD_KEY"', '"hunter2-literal"'))
    result = CliRunner().invoke(main, ["config", "check", str(path)])
    assert result.exit_code == 1
    assert f"{path}: channels.shop.legacy_api_key: literal secrets are refused" in result.output
    assert "hunter2" not in result.output
    assert "Traceback" not in result.output


def test_onprem_api_key_makes_the_backend_switch_one_line(
    sbonprem: RunningSandbox, sb360: RunningSandbox
) -> None:
    """Both keys live in the file; ``backend`` alone picks which one the backend gets."""
    keys = {"onprem_api_key": "env:T_ONPREM_KEY", "api_key": "env:T_D360_KEY",
            "legacy_api_key": "env:T_LEGACY_KEY"}
    before = channel_table(sbonprem, **keys)
    after = {**channel_table(sb360, **keys), "backend": "360dialog"}
    for table, sandbox, slot in ((before, sbonprem, "onprem_api_key"),
                                 (after, sb360, "api_key")):
        config = parse_config({"channels": {"shop": table}}, "test.toml")
        assert config.channel().backend_secret_key == slot
        with Client(config) as client:
            sent = client.request("POST", "/v1/messages",
                              json={"to": "4915112345678", "text": {"body": "hi"}},
                              headers={"D360-API-KEY": LEGACY_KEY})
            assert sent.status_code in (200, 201), sent.text
        assert len(sandbox.outbox()) >= 1
    # legacy_api_key stays the routing key; onprem_api_key alone does not route.
    router = Router(parse_config({"channels": {"shop": before}}, "t.toml"), require_key=True)
    assert router.channel_for_key(LEGACY_KEY) is not None
    assert router.channel_for_key(ONPREM_KEY) is None


#: A channel with every secret key set the right way (``env:`` references).
EVERY_SECRET = {
    "phone_number": "+4915112345678", "backend": "meta", "phone_number_id": "1",
    "access_token": "env:T_A", "api_key": "env:T_B", "legacy_api_key": "env:T_C",
    "onprem_api_key": "env:T_D", "app_secret": "env:T_E", "verify_token": "env:T_F",
    "webhook_secret_header": "X-Shared", "webhook_secret": "env:T_G",
}


def test_every_secret_key_is_covered_by_the_refusal_test() -> None:
    assert set(SECRET_KEYS) <= set(EVERY_SECRET)
    parse_config({"channels": {"x": EVERY_SECRET}})  # the reference channel itself is valid


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_a_literal_is_refused_for_every_secret_key(key: str) -> None:
    literal = f"pasted-{key}-value-9f3e"
    with pytest.raises(ConfigError) as exc:
        parse_config({"channels": {"x": {**EVERY_SECRET, key: literal}}})
    assert "literal secrets are refused" in problems(exc)[f"channels.x.{key}"]
    assert literal not in str(exc.value)


def test_a_literal_is_refused_inside_a_list_of_app_secrets() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({"channels": {"x": {**EVERY_SECRET,
                                         "app_secret": ["env:T_E", "pasted-old-secret"]}}})
    assert "pasted-old-secret" not in str(exc.value)
    assert any(k.startswith("channels.x.app_secret") for k, _ in exc.value.problems)


def test_forward_headers_take_env_references_only(tmp_path: Path) -> None:
    text = FULL.replace('"X-Tenant" = "env:FWD_TENANT"', '"X-Tenant" = "Bearer s3cr3t-literal"')
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, text))
    found = problems(exc)
    assert "literal secrets are refused" in found["channels.shop.forward_headers.X-Tenant"]
    assert "s3cr3t-literal" not in str(exc.value)


@pytest.mark.parametrize("key", ["forward_url", "base_url", "legacy_base_url"])
def test_credentials_in_any_url_are_refused_naming_the_key_not_the_value(
    tmp_path: Path, key: str
) -> None:
    url = "https://alice:pa55word-SECRET@hooks.example.com/wa"
    text = FULL.replace('mps = 200', f'mps = 200\n{key} = "{url}"', 1)
    text = text.replace('forward_url = "http://127.0.0.1:8000/hook"\n', "") \
        if key == "forward_url" else text
    text = text.replace('base_url = "http://127.0.0.1:9001/"\n', "") if key == "base_url" \
        else text
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, text))
    found = problems(exc)
    assert "credentials in the URL" in found[f"channels.shop.{key}"]
    assert "pa55word" not in str(exc.value) and "alice" not in str(exc.value)


@pytest.mark.parametrize(
    ("first", "second"),
    [("legacy_api_key", "legacy_api_key"), ("api_key", "legacy_api_key"), ("api_key", "api_key")],
)
def test_two_channels_sharing_a_routing_key_is_an_error(
    tmp_path: Path, first: str, second: str
) -> None:
    text = f"""
[channels.a]
phone_number = "+4915112345678"
backend = "360dialog"
api_key = "env:A_KEY"
{first} = "env:SHARED"

[channels.b]
phone_number = "+4915112345679"
backend = "360dialog"
api_key = "env:B_KEY"
{second} = "env:SHARED"
""".replace('api_key = "env:A_KEY"\napi_key', "api_key").replace(
        'api_key = "env:B_KEY"\napi_key', "api_key")
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, text))
    assert f"channels.b.{second}" in str(exc.value) and f"channels.a.{first}" in str(exc.value)
    assert "env:SHARED" in str(exc.value)


def test_two_variables_holding_the_same_key_are_refused_at_call_time() -> None:
    from shim.client import Dispatcher, Router
    from shim.config import parse_config

    table = {"phone_number": "+4915112345678", "backend": "360dialog",
             "base_url": "http://127.0.0.1:9"}
    cfg = parse_config({"channels": {
        "a": {**table, "api_key": "env:A_KEY", "legacy_api_key": "env:A_OLD"},
        "b": {**table, "api_key": "env:B_KEY", "legacy_api_key": "env:B_OLD"},
    }})
    environ = {"A_KEY": "ka", "B_KEY": "kb", "A_OLD": "same-old", "B_OLD": "same-old"}
    with Dispatcher(Router(cfg, require_key=True, environ=environ)) as d:
        response = d.dispatch("GET", "/v1/health", headers={"D360-API-KEY": "same-old"})
    assert response.status_code == 401
    details = response.json()["errors"][0]["details"]
    assert "several channels (a, b)" in details and "same-old" not in details


def test_config_check_refuses_url_credentials_without_printing_them(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from shim.cli import main

    text = FULL.replace('"http://127.0.0.1:8000/hook"', '"https://bob:hunter2-SECRET@app.example/hook"')
    result = CliRunner().invoke(main, ["config", "check", str(write(tmp_path, text))])
    assert result.exit_code != 0
    assert "channels.shop.forward_url" in result.output
    assert "hunter2" not in result.output and "bob" not in result.output
