"""Rewritten code is laid out as a person would write it: imports in their group, continuation
lines still aligned after an edit made the first line longer."""

from __future__ import annotations

import pytest

from tests.codemods.conftest import rewrite

SEND = '''
def send(k, to):
    return requests.post(URL, headers={"D360-API-KEY": k},
                         json={"to": to, "type": "text", "text": {"body": "hi"}})
'''
URL = 'URL = "https://waba.360dialog.io/v1/messages"\n'


def _head(source: str) -> list[str]:
    out = rewrite(source, "meta")
    assert out.error is None and out.new_data is not None
    text = out.new_data.decode()
    return text[:text.index("# Cloud API")].splitlines()


@pytest.mark.parametrize(("imports", "expected"), [
    ("import requests\n", ["import os", "", "import requests", ""]),
    ("import json\nimport sys\n\nimport requests\n",
     ["import json", "import os", "import sys", "", "import requests", ""]),
    ('"""Doc."""\nfrom __future__ import annotations\n\nimport requests\n',
     ['"""Doc."""', "from __future__ import annotations", "", "import os", "",
      "import requests", ""]),
    ("import urllib.parse\n\nimport requests\n",
     ["import os", "import urllib.parse", "", "import requests", ""]),
    ("import json\nfrom typing import Any\n\nimport requests\n",
     ["import json", "import os", "from typing import Any", "", "import requests", ""]),
    ("# vendored client\nimport requests\n",
     ["# vendored client", "import os", "", "import requests", ""]),
])
def test_import_os_goes_into_the_standard_library_group(imports: str,
                                                         expected: list[str]) -> None:
    assert _head(imports + "\n" + URL + SEND) == expected


def test_an_existing_os_import_is_reused() -> None:
    head = _head("import os\n\nimport requests\n\n" + URL + SEND)
    assert head == ["import os", "", "import requests", ""]


def test_continuation_aligned_with_a_nested_bracket_stays_aligned() -> None:
    source = URL + '''

def image(to, link, caption):
    return {"to": to, "type": "image", "image": {"link": link,
                                                  "caption": caption}}


def hanging(to, name):
    return send({"to": to, "type": "template", "template": {
        "name": name, "language": {"code": "en"}}})


def aligned(to, name):
    msg = {"to": to, "type": "template",
           "template": {"name": name, "language": {"code": "en"}}}
    return msg
'''
    out = rewrite(source, "360dialog")
    assert out.new_data is not None
    text = out.new_data.decode()
    assert '''    return {"messaging_product": "whatsapp",
            "to": to, "type": "image", "image": {"link": link,
                                                  "caption": caption}}''' in text
    # a hanging indent or a line aligned with the dict itself: the key goes in front
    assert '''    return send({"messaging_product": "whatsapp", "to": to, "type": "template", \
"template": {
        "name": name''' in text
    assert '''    msg = {"messaging_product": "whatsapp", "to": to, "type": "template",
           "template": {"name": name''' in text


def test_put_becoming_post_moves_the_aligned_arguments() -> None:
    source = '''import requests

BASE = "https://waba.360dialog.io"


def mark_read(key, message_id):
    r = requests.put(f"{BASE}/v1/messages/{message_id}", headers={"D360-API-KEY": key},
                     json={"status": "read"})
    return r


def hanging(s, mid):
    return s.put(
        f"{BASE}/v1/messages/{mid}", json={"status": "read"})
'''
    out = rewrite(source, "360dialog")
    assert out.new_data is not None
    text = out.new_data.decode()
    assert '''    r = requests.post(f"{BASE}/messages", headers={"D360-API-KEY": key},
                      json={"messaging_product": "whatsapp", "status": "read", \
"message_id": message_id})''' in text
    assert '''    return s.post(
        f"{BASE}/messages", json=''' in text
