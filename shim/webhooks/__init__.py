"""Cloud webhooks for code written against On-Prem webhooks.

In-process: ``onprem_view(payload)`` / ``onprem_bodies(payload)`` wrap the
payload a handler already has; ``WebhookGuard`` (ASGI), ``WSGIWebhookGuard``
(WSGI) and ``OnPremWebhookApp`` verify senders in front of a handler. For an
acknowledge-at-once, durable, deduplicating hop, see ``waba-migrate relay``.
"""

from shim.webhooks.adapters import (
    WebhookPayloadError,
    load_payload,
    merge_bodies,
    onprem_bodies,
    onprem_translation,
    onprem_view,
)
from shim.webhooks.asgi import OnPremWebhookApp, WebhookGuard
from shim.webhooks.scope import NumberScope
from shim.webhooks.signature import (
    SIGNATURE_HEADER,
    InsecureConfigError,
    Verdict,
    WebhookAuth,
    sign,
)
from shim.webhooks.wsgi import WSGIWebhookGuard

__all__ = [
    "SIGNATURE_HEADER",
    "InsecureConfigError",
    "NumberScope",
    "OnPremWebhookApp",
    "Verdict",
    "WSGIWebhookGuard",
    "WebhookAuth",
    "WebhookGuard",
    "WebhookPayloadError",
    "load_payload",
    "merge_bodies",
    "onprem_bodies",
    "onprem_translation",
    "onprem_view",
    "sign",
]
