"""Keeping secrets out of the gateway's logs.

Two layers. The access log line is built from redacted parts (the only
caller-controlled parts are the path and the query). And every log record that
reaches the gateway's handler, whoever wrote it (uvicorn, the client core), goes
through :class:`RedactingFilter`, which replaces the values of every secret the
config references and anything that looks like a credential assignment
(``D360-API-KEY: …``, ``Authorization: Bearer …``, ``access_token=…``).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Final, TextIO

from shim.config import Config

__all__ = ["MASK", "RedactingFilter", "Redactor", "configure_logging"]

MASK: Final = "***"
#: Shorter values are not searched for: masking every "a" would only garble the log.
MIN_SECRET_LENGTH: Final = 4

_CREDENTIAL = re.compile(
    r"(?i)\b(d360-api-key|authorization|api[_-]?key|access[_-]?token|verify[_-]?token"
    r"|hub\.verify_token|app[_-]?secret|password|secret|token)"
    r"(\"?\s*[:=]\s*\"?)((?:bearer|basic)\s+)?([^\s,;&\"'<>]+)"
)


class Redactor:
    """Masks known secret values and credential-looking assignments in text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret containing another is masked whole.
        unique = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
        self.secrets: tuple[str, ...] = tuple(sorted(unique, key=len, reverse=True))

    @classmethod
    def from_config(cls, config: Config, environ: Mapping[str, str] | None = None) -> Redactor:
        """Every secret the config references, resolved now (unset ones are skipped)."""
        values: list[str] = []
        for channel in config.channels.values():
            for ref in channel.env_refs().values():
                value = ref.resolve(environ)
                if value:
                    values.append(value)
        return cls(values)

    def redact(self, text: str, *extra: str) -> str:
        """``text`` with secrets (and ``extra`` values, e.g. a presented key) masked."""
        for secret in (*extra, *self.secrets):
            if len(secret) >= MIN_SECRET_LENGTH and secret in text:
                text = text.replace(secret, MASK)
        if "=" in text or ":" in text:
            text = _CREDENTIAL.sub(_mask_value, text)
        return text


def _mask_value(match: re.Match[str]) -> str:
    return f"{match[1]}{match[2]}{match[3] or ''}{MASK}"


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and traceback text) with secrets masked."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redactor.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor.redact(record.stack_info)
        return True


def configure_logging(
    level: str, redactor: Redactor, stream: TextIO | None = None
) -> logging.Handler:
    """Send every log record to ``stream`` (stderr) through one redacting handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(RedactingFilter(redactor))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_waba_gateway", False)]:
        root.removeHandler(old)
    handler._waba_gateway = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # uvicorn's access line holds the raw query; the gateway writes its own, redacted.
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.handlers.clear()
    uvicorn_access.propagate = False
    # httpx logs every request URL at INFO; the access log already covers that.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("httpcore").setLevel(max(logging.WARNING, root.level))
    return handler
