"""Exact refusals and derived values of the config loader.

A config error is read by a person fixing a file: each refusal must name the file, the
dotted key and the rule, and never the value. These tests pin the whole message, so a
reworded, emptied or misplaced message fails here and not in front of a user.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shim.config import (
    CONFIG_ENV_VAR,
    ConfigError,
    EnvRef,
    MissingSecretError,
    MissingStateUrlError,
    load_config,
    parse_config,
)

BASE = {"phone_number": "+4915112345678", "backend": "360dialog", "api_key": "env:K"}
LITERAL = (
    "literal secrets are refused; store the secret in an environment variable "
    'and write "env:VARIABLE_NAME" here'
)
NOT_A_STRING = 'must be a string "env:VARIABLE_NAME"'
BAD_NAME = '"env:" must be followed by a variable name ([A-Za-z_][A-Za-z0-9_]*)'
NOT_HTTP = "must be an http(s) URL with a host, e.g. https://waba-v2.360dialog.io"
URL_CREDENTIALS = (
    "credentials in the URL (user:password@host) are refused; they would be "
    "printed and not sent. Put them in an env: reference (e.g. forward_headers "
    '"Authorization" = "env:NAME") and remove them from the URL'
)
QUERY = "must not carry a query or fragment"
UNPARSABLE = "must be an http(s) URL with a host (this one cannot be parsed)"


def problems(doc: Any, source: str = "shop.toml") -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        parse_config(doc, source)
    assert info.value.source == source
    return info.value.problems


def channel_doc(**keys: Any) -> dict[str, Any]:
    return {"channels": {"shop": {**BASE, **keys}}}


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"api_key": 5}, [("channels.shop.api_key", NOT_A_STRING)]),
        ({"api_key": "sk-live"}, [("channels.shop.api_key", LITERAL)]),
        ({"api_key": "env:1X"}, [("channels.shop.api_key", BAD_NAME)]),
        ({"api_key": "env:"}, [("channels.shop.api_key", BAD_NAME)]),
        ({"app_secret": ["env:A", 3]}, [("channels.shop.app_secret", NOT_A_STRING)]),
        ({"forward_headers": {"X-T": "tok"}}, [("channels.shop.forward_headers.X-T", LITERAL)]),
        ({"base_url": "http://[::1"}, [("channels.shop.base_url", UNPARSABLE)]),
        ({"base_url": "https://u:p@h"}, [("channels.shop.base_url", URL_CREDENTIALS)]),
        ({"base_url": "ftp://h"}, [("channels.shop.base_url", NOT_HTTP)]),
        ({"base_url": "https://"}, [("channels.shop.base_url", NOT_HTTP)]),
        ({"forward_url": "https://h/hook?x=1"}, [("channels.shop.forward_url", QUERY)]),
        ({"legacy_base_url": "https://h#top"}, [("channels.shop.legacy_base_url", QUERY)]),
        ({"nope": 1}, [("channels.shop.nope", "unknown key")]),
    ],
)
def test_each_refusal_names_the_key_and_the_rule_exactly(
    keys: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert problems(channel_doc(**keys)) == expected


def test_the_message_lists_every_problem_one_line_each_with_the_file() -> None:
    doc = {
        "zz": 1,
        "aa": 2,
        "channels": {
            "shop": BASE,
            "b c": BASE,
            "d": 3,
            "e": {**BASE, "name": "x"},
            "f": {"backend": "360dialog", "api_key": "env:K3"},
        },
    }
    with pytest.raises(ConfigError) as info:
        parse_config(doc, "f.toml")
    assert str(info.value).splitlines() == [
        "f.toml: aa: unknown key (expected [channels.NAME] tables and [state])",
        "f.toml: zz: unknown key (expected [channels.NAME] tables and [state])",
        "f.toml: channels.b c: channel names use letters, digits, _ . -",
        "f.toml: channels.d: must be a table",
        "f.toml: channels.e.name: unknown key (the table name is the name)",
        "f.toml: channels.f.phone_number: required key is missing",
    ]


def test_file_level_problems_have_no_key_in_the_message() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config([1], "f.toml")  # type: ignore[arg-type]
    assert str(info.value) == "f.toml: the top level must be a table"
    with pytest.raises(ConfigError) as info:
        parse_config({})
    assert str(info.value) == "<config>: channels: no [channels.NAME] table found"
    assert problems({}) == [("channels", "no [channels.NAME] table found")]
    assert problems({"channels": 3}) == [("channels", "must be a table of [channels.NAME] tables")]
    assert problems({"x": 1}) == [
        ("x", "unknown key (expected [channels.NAME] tables and [state])"),
        ("channels", "no [channels.NAME] table found"),
    ]
    assert problems({"x": 1, "channels": 2}) == [
        ("x", "unknown key (expected [channels.NAME] tables and [state])"),
        ("channels", "must be a table of [channels.NAME] tables"),
    ]


def test_model_errors_are_reported_with_the_file_level_ones() -> None:
    doc = {"x": 1, "channels": {"shop": {"backend": "360dialog", "api_key": "env:K"}}}
    assert problems(doc) == [
        ("x", "unknown key (expected [channels.NAME] tables and [state])"),
        ("channels.shop.phone_number", "required key is missing"),
    ]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (3, "must be a string"),
        (
            "redis://h",
            'must be "memory", "sqlite:///path/to/state.db", '
            '"postgresql://user@host/db" or "env:VARIABLE_NAME"',
        ),
        (
            "postgresql://u:pw@h/db",
            'a password in the URL is refused; put the whole URL in an environment variable '
            'and write "env:VARIABLE_NAME" here',
        ),
        ("env:1", BAD_NAME),
        (
            "postgresql://ann@corp:pw@h/db",
            'a password in the URL is refused; put the whole URL in an environment variable '
            'and write "env:VARIABLE_NAME" here',
        ),
    ],
)
def test_state_url_refusals(url: object, message: str) -> None:
    assert problems({"channels": {"shop": BASE}, "state": {"url": url}}) == [("state.url", message)]


@pytest.mark.parametrize(
    "url", ["memory", "sqlite:///s.db", "postgresql://u@h/db", "postgres://h:5432/db"]
)
def test_state_urls_without_password_are_kept_as_written(url: str) -> None:
    config = parse_config({"channels": {"shop": BASE}, "state": {"url": url}})
    assert config.state is not None
    assert config.state.resolved_url({}) == url


def test_state_url_from_the_environment_resolves_late() -> None:
    config = parse_config({"channels": {"shop": BASE}, "state": {"url": "env:STATE"}})
    assert config.state is not None
    assert config.state.url == EnvRef("STATE")
    assert config.state.resolved_url({"STATE": "postgresql://u:pw@h/db"}) == "postgresql://u:pw@h/db"
    with pytest.raises(MissingStateUrlError) as info:
        config.state.resolved_url({})
    assert str(info.value) == (
        "state.url: environment variable STATE is not set (the config references it as env:STATE)"
    )


def test_urls_are_kept_without_trailing_slash() -> None:
    config = parse_config(
        channel_doc(
            base_url="https://h:8443/api/",
            forward_url="http://h/hook",
            legacy_base_url="http://h/prefiX/",
        )
    )
    shop = config.channel("shop")
    assert shop.base_url == "https://h:8443/api"
    assert shop.forward_url == "http://h/hook"
    assert shop.legacy_base_url == "http://h/prefiX"


def test_channel_lookup_errors_name_the_file_and_the_known_channels() -> None:
    config = parse_config({"channels": {"b": BASE, "a": {**BASE, "api_key": "env:K2"}}}, "f.toml")
    assert config.channel("a").name == "a"
    with pytest.raises(KeyError) as info:
        config.channel()
    assert info.value.args == ("f.toml: several channels (a, b); name one",)
    with pytest.raises(KeyError) as info:
        config.channel("c")
    assert info.value.args == ("f.toml: no channel 'c' (known: a, b)",)
    single = parse_config(channel_doc())
    assert single.channel().name == "shop"


def test_secret_references_are_listed_by_dotted_key() -> None:
    one = parse_config(channel_doc(app_secret="env:S1", forward_headers={"X-T": "env:T"}))
    assert one.channel().env_refs() == {
        "api_key": EnvRef("K"),
        "app_secret": EnvRef("S1"),
        "forward_headers.X-T": EnvRef("T"),
    }
    two = parse_config(channel_doc(app_secret=["env:S1", "env:S2"], verify_token="env:V"))
    assert two.channel().env_refs() == {
        "api_key": EnvRef("K"),
        "app_secret[0]": EnvRef("S1"),
        "app_secret[1]": EnvRef("S2"),
        "verify_token": EnvRef("V"),
    }


def test_secrets_resolve_from_the_given_environment() -> None:
    shop = parse_config(channel_doc(app_secret=["env:S1", "env:S2"])).channel()
    env = {"K": "key", "S1": "new", "S2": "old"}
    assert shop.secret("api_key", env) == "key"
    assert shop.secret("app_secret", env) == "new"
    assert shop.optional_secret("app_secret", env) == "new"
    assert shop.optional_secret("app_secret", {}) is None
    assert shop.optional_secret("access_token", env) is None
    assert shop.app_secrets(env) == ["new", "old"]
    assert shop.app_secrets({"S2": "old", "S1": ""}) == ["old"]
    with pytest.raises(MissingSecretError) as info:
        shop.secret("app_secret", {"S2": "old"})
    assert (info.value.channel, info.value.key, info.value.var) == ("shop", "app_secret", "S1")
    assert str(info.value) == (
        "channels.shop.app_secret: environment variable S1 is not set "
        "(the config references it as env:S1)"
    )
    with pytest.raises(KeyError) as key_info:
        shop.secret("access_token", env)
    assert key_info.value.args == ("channels.shop.access_token is not configured",)
    with pytest.raises(KeyError) as key_info:
        shop.secret("no_such_key", env)
    assert key_info.value.args == ("channels.shop.no_such_key is not configured",)
    assert shop.optional_secret("no_such_key", env) is None


def test_an_empty_secret_list_is_not_configured() -> None:
    shop = parse_config(channel_doc(app_secret=[])).channel()
    assert shop.optional_secret("app_secret", {"K": "key"}) is None
    assert shop.app_secrets({"K": "key"}) == []
    with pytest.raises(KeyError) as info:
        shop.secret("app_secret", {})
    assert info.value.args == ("channels.shop.app_secret is not configured",)


def test_forward_headers_resolve_or_name_the_missing_variable() -> None:
    shop = parse_config(channel_doc(forward_headers={"X-T": "env:T", "X-U": "env:U"})).channel()
    assert shop.resolved_forward_headers({"T": "1", "U": "2"}) == {"X-T": "1", "X-U": "2"}
    with pytest.raises(MissingSecretError) as info:
        shop.resolved_forward_headers({"T": "1"})
    assert (info.value.channel, info.value.key, info.value.var) == (
        "shop",
        "forward_headers.X-U",
        "U",
    )


def test_file_errors_are_one_line_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def message(path: Path | None) -> str:
        with pytest.raises(ConfigError) as info:
            load_config(path)
        return str(info.value)

    missing = tmp_path / "nope.toml"
    assert message(missing) == f"{missing}: file not found"
    assert message(tmp_path) == f"{tmp_path}: cannot read: Is a directory"
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff[channels]")
    assert message(binary) == f"{binary}: not UTF-8 text"
    broken = tmp_path / "broken.toml"
    broken.write_text("a = ", encoding="utf-8")
    assert message(broken) == f"{broken}: invalid TOML: Invalid value (at end of document)"
    monkeypatch.setenv(CONFIG_ENV_VAR, "")
    assert message(None) == (
        f"<no config>: no config file given; pass a path or set {CONFIG_ENV_VAR}"
    )
    good = tmp_path / "good.toml"
    good.write_text(
        '[channels.shop]\nphone_number = "+4915112345678"\nbackend = "360dialog"\n'
        'api_key = "env:K"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv(CONFIG_ENV_VAR, str(good))
    assert load_config().source == str(good)
    assert load_config(str(good)).channel().name == "shop"
