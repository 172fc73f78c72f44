"""The byte prefilter must never hide a file a rule would report on."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from codemods.analyze import CONTEXT_RE
from codemods.engine import Options, process_source
from codemods.prefilter import may_match
from codemods.rules import RULES

WORDS = ["whatsapp", "WhatsApp", "waba", "wa_id", "360dialog", "D360-API-KEY", "'hsm'",
         '"hsm"', "localizable_params", "WA_BASE", "wa-node", "recipient_type",
         "recipient_id", "turn.io"]
FILLER = ["/v1/messages", "requests.post(", "x = 1\n", '"messages"', '"statuses"', '"from"',
          '"status"', "request.json", "def f():\n    pass\n", "v1", '"to"', '"type"']


def test_every_context_word_passes() -> None:
    for word in WORDS:
        assert CONTEXT_RE.search(word) or word in ("recipient_id",)
        assert may_match(word.encode()), word


def test_rule_examples_pass() -> None:
    for rule in RULES:
        assert may_match(rule.before.encode()), rule.code


def test_webhook_view_without_whatsapp_words() -> None:
    view = ('def hook(request):\n    for s in request.json.get("statuses", []):\n'
            '        track(s["id"], s["status"])\n')
    assert may_match(view.encode())
    out = process_source(view.encode(), Options())
    assert [f.rule for f in out.findings] == ["WM401"]
    assert not may_match(view.replace('"status"', '"state"').encode())


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(FILLER + WORDS + list(string.ascii_letters)), max_size=12))
def test_context_implies_prefilter(tokens: list[str]) -> None:
    text = " ".join(tokens)
    if CONTEXT_RE.search(text):
        assert may_match(text.encode())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(FILLER), min_size=1, max_size=10))
def test_files_the_prefilter_skips_have_no_findings(tokens: list[str]) -> None:
    source = "URL = " + repr("".join(tokens)) + "\nBODY = {'to': x, 'type': 'text'}\n"
    if not may_match(source.encode()):
        assert process_source(source.encode(), Options(rewrite=True)).findings == []


def test_on_prem_paths_without_any_whatsapp_word_pass() -> None:
    """Self-hosted and Turn-hosted callers may show nothing but the path (issue 12, class 12)."""
    for source in ('url = f"{base}/v1/messages"', 'URL = "%s/v1/messages" % host',
                   'endpoint = "/v1/messages"', 'r = urljoin(self.base, "v1/messages")',
                   'await client.post(f"{base}/v1/media", content=data)',
                   'requests.put(f"{base}/v1/messages/{mid}", json={"status": "read"})',
                   'requests.post(host + "/v1/users/login", auth=(u, p))',
                   'PATCH = "/v1/settings/application"', 'GET = "/v1/configs/webhook"',
                   'CHECK = "/V1/CONTACTS"'):
        assert may_match(source.encode()), source


def test_unicode_tables_are_not_candidates() -> None:
    assert may_match(b'h = {"D360-API-KEY": key}')
    assert may_match(b"KEY_HEADER = 'd360-api-key'")
    for table in (b'"\\ud360\\ud361"', b"0xd360, 0xd361", b"u'\\U0001d360'", b"/v1/users"):
        assert not may_match(table), table
