"""shim.channels: the per-channel Graph URL and token that multi-number code is pointed at."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shim.channels import cloud_request, graph_target
from shim.client.core import Router
from shim.config import ConfigError, MissingSecretError, load_config

CONFIG = """
[channels.shop]
phone_number = "+4915112345678"
backend = "meta"
phone_number_id = "1000000001"
access_token = "env:SHOP_TOKEN"
graph_api_version = "v23.0"

[channels.support]
phone_number = "+4915112345679"
backend = "meta"
phone_number_id = "1000000002"
access_token = "env:SUPPORT_TOKEN"

[channels.legacy]
phone_number = "+4915112345670"
backend = "360dialog"
api_key = "env:LEGACY_KEY"
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "waba.toml"
    path.write_text(CONFIG)
    return path


def test_each_channel_gets_its_own_number_and_token(config_file: Path) -> None:
    config = load_config(config_file)
    env = {"SHOP_TOKEN": "t-shop", "SUPPORT_TOKEN": "t-support"}
    shop = graph_target("shop", config=config, environ=env)
    support = graph_target("support", "media", config=config, environ=env)
    assert shop.url == "https://graph.facebook.com/v23.0/1000000001/messages"
    assert shop.headers == {"Authorization": "Bearer t-shop"}
    assert support.url.endswith("/1000000002/media")
    assert support.headers == {"Authorization": "Bearer t-support"}


def test_missing_pieces_name_the_key_not_a_value(config_file: Path) -> None:
    config = load_config(config_file)
    with pytest.raises(ConfigError, match=r"channels\.legacy\.phone_number_id"):
        graph_target("legacy", config=config, environ={})
    with pytest.raises(MissingSecretError, match="SHOP_TOKEN"):
        graph_target("shop", config=config, environ={})
    with pytest.raises(ConfigError, match="nope"):
        graph_target("nope", config=config, environ={})


def test_reads_the_config_the_environment_names_at_call_time(config_file: Path) -> None:
    """Importing the helper needs no config; the call reads $WABA_MIGRATE_CONFIG."""
    code = ("import shim.channels as c, os; os.environ['WABA_MIGRATE_CONFIG'] = "
            f"{str(config_file)!r}; os.environ['SHOP_TOKEN'] = 'x'; "
            "print(c.graph_target('shop').url)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PATH": ""})
    assert out.stdout.strip() == "https://graph.facebook.com/v23.0/1000000001/messages"


ROUTED = """
[channels.shop]
phone_number = "+4915112345678"
backend = "meta"
phone_number_id = "1000000001"
access_token = "env:SHOP_TOKEN"
legacy_api_key = "env:SHOP_OLD"

[channels.support]
phone_number = "+4915112345679"
backend = "360dialog"
api_key = "env:SUPPORT_KEY"
legacy_api_key = "env:SUPPORT_OLD"
legacy_base_url = "https://wa-support.internal:9090"
"""
ROUTED_ENV = {"SHOP_TOKEN": "t-shop", "SHOP_OLD": "old-shop", "SUPPORT_KEY": "k-support",
              "SUPPORT_OLD": "old-support"}


def test_cloud_request_finds_the_channel_by_the_key_the_legacy_call_sends(tmp_path: Path) -> None:
    path = tmp_path / "routed.toml"
    path.write_text(ROUTED)
    config = load_config(path)
    shop = cloud_request("meta", "/{phone_number_id}/messages",
                         {"D360-API-KEY": "old-shop", "Content-Type": "application/json"},
                         "https://waba.360dialog.io/v1/messages", config=config, environ=ROUTED_ENV)
    assert shop == {"url": "https://graph.facebook.com/v24.0/1000000001/messages",
                    "headers": {"Content-Type": "application/json",
                                "Authorization": "Bearer t-shop"}}
    support = cloud_request("360dialog", "/v1/configs/webhook",
                            {"Authorization": "Bearer old-support"}, config=config,
                            environ=ROUTED_ENV)
    assert support == {"url": "https://waba-v2.360dialog.io/v1/configs/webhook",
                       "headers": {"D360-API-KEY": "k-support"}}
    by_host = cloud_request("360dialog", "/messages", {}, "https://wa-support.internal:9090/v1/x",
                            config=config, environ=ROUTED_ENV)
    assert by_host["headers"] == {"D360-API-KEY": "k-support"}


def test_cloud_request_never_guesses_a_channel(tmp_path: Path) -> None:
    path = tmp_path / "routed.toml"
    path.write_text(ROUTED)
    config = load_config(path)
    with pytest.raises(ConfigError, match="legacy_api_key"):
        cloud_request("meta", "/messages", {"D360-API-KEY": "unknown"}, config=config,
                      environ=ROUTED_ENV)
    with pytest.raises(ConfigError, match=r"channels\.support\.backend"):
        cloud_request("meta", "/messages", {"D360-API-KEY": "old-support"}, config=config,
                      environ=ROUTED_ENV)


def test_cloud_request_never_lends_the_only_channel_to_a_foreign_key(tmp_path: Path) -> None:
    """One number moved at a time: the config holds one channel, the code serves many."""
    path = tmp_path / "one.toml"
    path.write_text(CONFIG.split("[channels.support]")[0])
    config = load_config(path)
    env = {"SHOP_TOKEN": "t-shop"}
    with pytest.raises(ConfigError, match="legacy_api_key or api_key"):
        cloud_request("meta", "/{phone_number_id}/messages", {"D360-API-KEY": "another-number"},
                      "https://waba.360dialog.io/v1/messages", config=config, environ=env)
    keyless = cloud_request("meta", "/{phone_number_id}/messages", {}, config=config, environ=env)
    assert keyless["headers"] == {"Authorization": "Bearer t-shop"}


@pytest.mark.parametrize("headers", [
    {"D360-API-KEY": "  old-shop "},
    {"d360-api-key": "", "authorization": "bearer  old-shop"},
    {"Authorization": " Bearer old-shop ", "X-Other": "old-support"},
])
def test_cloud_request_reads_the_key_as_the_client_router_does(
        tmp_path: Path, headers: dict[str, str]) -> None:
    """Spaces around a key, or an empty D360 header beside a Bearer token, pick the same channel."""
    path = tmp_path / "routed.toml"
    path.write_text(ROUTED)
    config = load_config(path)
    found = cloud_request("meta", "/{phone_number_id}/messages", headers, config=config,
                          environ=ROUTED_ENV)
    assert found["url"] == "https://graph.facebook.com/v24.0/1000000001/messages"
    assert found["headers"]["Authorization"] == "Bearer t-shop"
    router = Router(config, environ=ROUTED_ENV)
    assert router.resolve(headers).name == "shop"
