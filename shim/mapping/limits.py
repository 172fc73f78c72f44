"""Numeric limits of the Cloud API that clients pace and size against.

Sources: api-mapping reference section 13 (throughput, pair rate limit) and
section 2.1 (``biz_opaque_callback_data``).
"""

from __future__ import annotations

from typing import Final

#: Messages per second per business number: default tier and the highest tier.
DEFAULT_MPS: Final = 80
MAX_MPS: Final = 1000

#: Pair rate limit (business number -> one user): one message per 6 s, bursts
#: up to 45 borrow from future quota; beyond that Cloud answers 131056.
PAIR_INTERVAL_S: Final = 6.0
PAIR_BURST: Final = 45
#: Cloud suggests 4^X seconds between retries of a 131056 (1, 4, 16, 64 ... s).
PAIR_BACKOFF_BASE: Final = 4.0

#: Cloud echoes up to 512 characters of ``biz_opaque_callback_data`` in statuses.
MAX_CALLBACK_DATA: Final = 512
