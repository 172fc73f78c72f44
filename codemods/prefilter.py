"""The cheap byte-level test that decides which files are worth parsing.

Every rule needs one of these in the file before it can fire: an On-Prem
host or WhatsApp word (the same words ``codemods.analyze.CONTEXT_RE`` and the
webhook rule look for); an On-Prem API path (``v1/messages``, ``v1/media``,
``v1/contacts``, ``v1/users/login``, ``v1/settings``, ``v1/configs``), which is
all a self-hosted or Turn-hosted caller with no WhatsApp word may show (an
f-string base, ``%``, ``urljoin``, a class attribute); or, for a webhook view
that names no WhatsApp word, the On-Prem ``statuses`` key next to a status
item's ``status``/``from`` key. So a file this skips cannot produce a finding;
the tests hold every fixture and rule example to that.

Speed: one ``lower()`` and plain substring tests; the two regular expressions
run only after a cheap substring has shown they might match (``d360`` must not
be part of a ``\\ud360`` escape or a hex number, as in Unicode tables).
"""

from __future__ import annotations

import re
from typing import Final

#: Lower-case words any of which makes a file a candidate (plain substring tests: fast).
WORDS: Final = (b"360dialog", b"whatsapp", b"waba", b"wa_id", b"localizable_params",
                b"'hsm'", b'"hsm"', b"recipient_id", b"recipient_type", b"turn.io")
#: On-Prem API paths, with or without the leading slash (``urljoin(base, "v1/messages")``).
PATHS: Final = (b"v1/messages", b"v1/media", b"v1/contacts", b"v1/users/login",
                b"v1/settings", b"v1/configs", b"v1/account", b"v1/health")
_D360: Final = re.compile(rb"(?<![\\0-9a-z])d360")  # D360-API-KEY, not \\ud360 or 0xd360
_WA_PREFIX: Final = re.compile(rb"\bwa[_-]")  # WA_BASE, wa-node, ...
_ITEM_KEYS: Final = re.compile(rb"[\"'](from|status)[\"']")


def may_match(data: bytes) -> bool:
    low = data.lower()
    if any(word in low for word in WORDS):
        return True
    if b"v1/" in low and any(path in low for path in PATHS):
        return True
    if b"d360" in low and _D360.search(low) is not None:
        return True
    if (b"wa_" in low or b"wa-" in low) and _WA_PREFIX.search(low) is not None:
        return True
    return b"statuses" in low and _ITEM_KEYS.search(low) is not None
