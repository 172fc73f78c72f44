"""Message templates the sandbox knows, and the send-time checks Cloud makes.

A fresh sandbox holds a few templates so demos can send one at once;
``POST /v1/configs/templates`` (360dialog) or ``POST /{waba}/message_templates``
(Meta) add more. Decision: new templates are APPROVED immediately (no review).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_NAMESPACE", "Template", "TemplateStore", "count_placeholders", "seed_templates"]

DEFAULT_NAMESPACE = "c8ae5f90_307a_ca4c_b8f6_d1e2a2573574"

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_ids = itertools.count(1387372356726668)


def count_placeholders(text: str) -> int:
    """Distinct ``{{1}}`` / ``{{name}}`` placeholders in a component text."""
    return len(set(_PLACEHOLDER.findall(text)))


@dataclass(slots=True)
class Template:
    name: str
    language: str
    category: str = "UTILITY"
    status: str = "APPROVED"
    components: list[dict[str, Any]] = field(default_factory=list)
    id: str = field(default_factory=lambda: str(next(_ids)))
    namespace: str = DEFAULT_NAMESPACE

    def expected_params(self) -> dict[str, int]:
        """Parameters each text component needs: ``{"body": 2, "header": 0}``."""
        counts: dict[str, int] = {}
        for comp in self.components:
            kind = str(comp.get("type", "")).lower()
            text = comp.get("text")
            if kind in ("header", "body") and isinstance(text, str):
                counts[kind] = count_placeholders(text)
        return counts

    def as_d360(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "language": self.language,
            "category": self.category,
            "status": self.status,
            "components": self.components,
            "namespace": self.namespace,
            "rejected_reason": "NONE",
        }

    def as_graph(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "language": self.language,
            "category": self.category,
            "status": self.status,
            "components": self.components,
            "id": self.id,
        }


def seed_templates() -> list[Template]:
    return [
        Template(
            "hello_world",
            "en_US",
            components=[{"type": "BODY", "text": "Hello World"}],
        ),
        Template(
            "order_update",
            "en",
            components=[
                {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
                {"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped."},
            ],
        ),
        Template(
            "seasonal_promo",
            "en",
            category="MARKETING",
            status="PENDING",
            components=[{"type": "BODY", "text": "Our sale starts on {{1}}."}],
        ),
    ]


class TemplateStore:
    def __init__(self, templates: Iterable[Template] = ()) -> None:
        self._items: dict[tuple[str, str], Template] = {}
        for tpl in templates:
            self.add(tpl)

    def reset(self) -> None:
        self._items.clear()
        for tpl in seed_templates():
            self.add(tpl)

    def add(self, tpl: Template) -> Template:
        self._items[(tpl.name, tpl.language)] = tpl
        return tpl

    def get(self, name: str, language: str) -> Template | None:
        return self._items.get((name, language))

    def all(self) -> list[Template]:
        return list(self._items.values())

    def delete(self, name: str) -> int:
        """Delete every language of ``name``; how many were removed."""
        keys = [key for key in self._items if key[0] == name]
        for key in keys:
            del self._items[key]
        return len(keys)


def param_count_problem(tpl: Template, components: Any) -> str | None:
    """Why the parameters sent do not fit the template (132000 details), or None."""
    sent: dict[str, int] = {}
    if isinstance(components, list):
        for comp in components:
            if isinstance(comp, Mapping):
                kind = str(comp.get("type", "")).lower()
                params = comp.get("parameters")
                if kind in ("header", "body"):
                    sent[kind] = len(params) if isinstance(params, list) else 0
    expected_by_kind = tpl.expected_params()
    for kind in sorted(set(expected_by_kind) | set(sent)):
        expected, got = expected_by_kind.get(kind, 0), sent.get(kind, 0)
        if got != expected:
            return (
                "Number of parameters does not match the expected number of params "
                f"({kind}: expected {expected}, received {got})."
            )
    return None


_CATEGORIES = frozenset({"AUTHENTICATION", "MARKETING", "UTILITY"})
_NAME = re.compile(r"^[a-z0-9_]{1,512}$")


def parse_template_request(data: Any) -> Template:
    """A template-creation body (360dialog and Meta share it); ValueError names the field."""
    if not isinstance(data, Mapping):
        raise ValueError("body: must be a JSON object")
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError("name: required, lowercase letters, digits and underscores, <= 512 chars")
    language = data.get("language")
    if not isinstance(language, str) or not language:
        raise ValueError("language: required, a language code such as en_US")
    category = data.get("category")
    if not isinstance(category, str) or category.upper() not in _CATEGORIES:
        raise ValueError(f"category: must be one of {', '.join(sorted(_CATEGORIES))}")
    components = data.get("components")
    if not isinstance(components, list) or not all(isinstance(c, Mapping) for c in components):
        raise ValueError("components: required, an array of objects")
    if not any(str(c.get("type", "")).upper() == "BODY" for c in components):
        raise ValueError("components: a BODY component is required")
    return Template(name, language, category.upper(), components=[dict(c) for c in components])
