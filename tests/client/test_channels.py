"""shim.channels: the per-channel Graph URL and token that multi-number code is pointed at."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shim.channels import graph_target
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
