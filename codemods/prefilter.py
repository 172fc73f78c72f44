"""The cheap byte-level test that decides which files are worth parsing.

Every rule needs one of these in the file before it can fire: an On-Prem
host or WhatsApp word (the same words ``codemods.analyze.CONTEXT_RE`` and the
webhook rule look for), or, for a webhook view that names no WhatsApp word,
the On-Prem ``statuses`` key next to a status item's ``status``/``from`` key.
So a file this skips cannot produce a finding; the tests hold every fixture
and rule example to that. A bare ``/v1/`` path is not enough on its own: without
a WhatsApp word it is someone else's API and no rule fires on it.
"""

from __future__ import annotations

import re
from typing import Final

#: Lower-case words any of which makes a file a candidate (plain substring tests: fast).
WORDS: Final = (b"360dialog", b"d360", b"whatsapp", b"waba", b"wa_id", b"localizable_params",
                b"'hsm'", b'"hsm"', b"recipient_id", b"recipient_type", b"turn.io")
_WA_PREFIX: Final = re.compile(rb"\bwa[_-]")  # WA_BASE, wa-node, ...
_ITEM_KEYS: Final = re.compile(rb"[\"'](from|status)[\"']")


def may_match(data: bytes) -> bool:
    low = data.lower()
    if any(word in low for word in WORDS) or _WA_PREFIX.search(low) is not None:
        return True
    return b"statuses" in low and _ITEM_KEYS.search(low) is not None
