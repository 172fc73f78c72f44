"""The cheap byte-level test that decides which files are worth parsing.

Broad on purpose: a false hit costs one parse, a miss loses a call site.
Every rule's in-file gate requires one of these markers, so a file that does
not match cannot produce a finding (the tests check this on every fixture).
"""

from __future__ import annotations

import re
from typing import Final

MARKERS: Final = re.compile(
    rb"(?i)360dialog|d360|whatsapp|waba|wa_id|localizable_params|[\"']hsm[\"']|recipient_id"
    rb"|recipient_type|statuses|/v1\b|[\"']v1/|[\"']v1[\"']|turn\.io|\bwa[_-]"
)


def may_match(data: bytes) -> bool:
    return MARKERS.search(data) is not None
