"""Apply an analysis to its module: node edits, manual-item comments, module inserts.

Edits are keyed by the identity of the node they replace (the tree was
parsed once and never copied) and run in one pass, children before parents.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Final

import libcst as cst

from codemods.analyze import ALWAYS, Analysis, Item
from codemods.facts import dotted
from codemods.webhooks import VIEW_MODULE, VIEW_NAME
from shim.mapping.hosts import DEFAULT_GRAPH_VERSION

COMMENT_PREFIX: Final = "# waba-migrate: "

#: The Meta settings a rewritten URL reads, and how the module gets them.
#: Decision: read from the environment at import, never raising there (a module must
#: import without them, e.g. in tests or tooling); an unset id makes the Graph API
#: answer the send with an error, and the comment above the settings says to set it.
#: Code that serves several numbers never gets these: it is marked WM916 instead.
SETTINGS_SOURCE: Final = {
    "GRAPH_API_VERSION": f'os.environ.get("GRAPH_API_VERSION", "{DEFAULT_GRAPH_VERSION}")',
    "WHATSAPP_PHONE_NUMBER_ID": 'os.environ.get("WHATSAPP_PHONE_NUMBER_ID", "")',
    "WHATSAPP_BUSINESS_ACCOUNT_ID": 'os.environ.get("WHATSAPP_BUSINESS_ACCOUNT_ID", "")',
}


def comment_text(item: Item) -> str:
    text = f"{COMMENT_PREFIX}{item.code}: {item.todo or item.message}"
    return text.replace("\n", " ").replace("\r", " ")


def apply(analysis: Analysis, enabled: frozenset[int]) -> cst.Module:
    """The module with every enabled item applied (manual items become comments)."""
    facts = analysis.facts
    comments: dict[cst.CSTNode, list[Item]] = {}
    for item in analysis.items:
        if item.fix == "manual" and item.id in enabled:
            comments.setdefault(facts.statement_of(item.node), []).append(item)
    settings: set[str] = set()
    view_import = False
    imports: set[str] = set()
    first_user: cst.CSTNode | None = None
    for item in analysis.items:
        if item.id in enabled and item.fix != "manual":
            imports |= item.imports
            if item.settings:
                settings |= item.settings
                top = _top_statement(analysis, item.node)
                if top is not None and (first_user is None or _index(facts.module, top)
                                        < _index(facts.module, first_user)):
                    first_user = top
            view_import |= item.needs_view_import
    defined = set(facts.module_scope.assigns)
    settings -= defined
    header = {ln.comment.value for ln in facts.module.header if ln.comment is not None}
    transformer = _Apply(analysis, enabled, comments, header)
    module = facts.module.visit(transformer)
    assert isinstance(module, cst.Module)
    module = _insert_module_lines(module, facts.module, settings, view_import, first_user,
                                  "os" in facts.module_scope.assigns)
    return _insert_imports(module, imports)


def _insert_imports(module: cst.Module, lines: set[str]) -> cst.Module:
    """Add each ``from X import Y`` line an applied edit needs, after the module's imports."""
    have = {module.code_for_node(s).strip() for s in module.body if _is_import_line(s)}
    missing = sorted(lines - have)
    if not missing:
        return module
    body = list(module.body)
    at = _after_imports(body)
    relative = [i for i, stmt in enumerate(body[:at]) if _import_module(stmt) == ("", True)]
    if relative:  # third-party imports go before the project's own relative ones
        at = relative[0]
        first = body[at]
        assert isinstance(first, cst.SimpleStatementLine)
        body[at] = first.with_changes(leading_lines=[])
        new = [cst.parse_statement(f"{line}\n") for line in missing]
        new[0] = new[0].with_changes(leading_lines=first.leading_lines)
        body[at:at] = new
        body[at + len(new)] = body[at + len(new)].with_changes(leading_lines=[cst.EmptyLine()])
        return module.with_changes(body=body)
    body[at:at] = [cst.parse_statement(f"{line}\n") for line in missing]
    return module.with_changes(body=body)


class _Apply(cst.CSTTransformer):
    def __init__(self, analysis: Analysis, enabled: frozenset[int],
                 comments: dict[cst.CSTNode, list[Item]], header: set[str]) -> None:
        super().__init__()
        self.edits = analysis.node_edits
        self.enabled = enabled
        self.comments = comments
        # comments above a module's first statement belong to Module.header once parsed
        body = analysis.facts.module.body
        self.first = body[0] if body else None
        self.header = header

    def on_leave(  # type: ignore[override]
        self, original_node: cst.CSTNode, updated_node: cst.CSTNode
    ) -> cst.CSTNode | cst.RemovalSentinel | cst.FlattenSentinel[cst.CSTNode]:
        result: cst.CSTNode | cst.RemovalSentinel | cst.FlattenSentinel[cst.CSTNode]
        result = super().on_leave(original_node, updated_node)
        for iid, fn in self.edits.get(original_node, ()):
            if not isinstance(result, cst.CSTNode):
                break
            if iid == ALWAYS or iid in self.enabled:
                result = fn(result, self.enabled)
        items = self.comments.get(original_node)
        extra = self.header if original_node is self.first else set()
        if items and isinstance(result, cst.CSTNode):
            result = _add_comments(result, items, extra)
        elif items and isinstance(result, cst.FlattenSentinel) and result.nodes:
            nodes = list(result.nodes)
            nodes[0] = _add_comments(nodes[0], items, extra)
            result = cst.FlattenSentinel(nodes)
        return result


def _marked_codes(comments: Iterable[str]) -> set[str]:
    return {c.split(":", 2)[1].strip() for c in comments
            if c.startswith(COMMENT_PREFIX) and c.count(":") >= 2}


def _add_comments(node: cst.CSTNode, items: list[Item], header: set[str]) -> cst.CSTNode:
    leading = getattr(node, "leading_lines", None)
    if leading is None:
        return node
    have = _marked_codes([ln.comment.value for ln in leading if ln.comment is not None])
    have |= _marked_codes(header)
    new = list(leading)
    seen: set[str] = set()
    for item in items:
        if item.code in have:
            continue
        text = comment_text(item)
        if text in seen:
            continue
        seen.add(text)
        new.append(cst.EmptyLine(indent=True, comment=cst.Comment(text)))
    if len(new) == len(leading):
        return node
    return node.with_changes(leading_lines=new)


def _top_statement(analysis: Analysis, node: cst.CSTNode) -> cst.CSTNode | None:
    parents = analysis.facts.parents
    cur: cst.CSTNode | None = node
    while cur is not None:
        parent = parents.get(cur)
        if isinstance(parent, cst.Module):
            return cur
        cur = parent
    return None


def _index(module: cst.Module, stmt: cst.CSTNode) -> int:
    for i, s in enumerate(module.body):
        if s is stmt:
            return i
    return len(module.body)


def _is_import_line(stmt: cst.CSTNode) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and all(
        isinstance(s, cst.Import | cst.ImportFrom) for s in stmt.body
    )


def _is_docstring(stmt: cst.CSTNode) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, cst.SimpleString | cst.ConcatenatedString))


def _after_imports(body: Sequence[cst.CSTNode]) -> int:
    """Index just after the leading block of docstring and imports."""
    idx = 0
    for i, stmt in enumerate(body):
        if i == 0 and _is_docstring(stmt):
            idx = 1
            continue
        if _is_import_line(stmt):
            idx = i + 1
            continue
        if isinstance(stmt, cst.Try | cst.If) and _only_imports(stmt):
            idx = i + 1
            continue
        break
    return idx


def _only_imports(stmt: cst.CSTNode) -> bool:
    found = False
    for child in stmt.children:
        if isinstance(child, cst.SimpleStatementLine):
            if not _is_import_line(child):
                return False
            found = True
        elif isinstance(child, cst.BaseSuite | cst.ExceptHandler | cst.Else | cst.Finally):
            inner = _only_imports(child)
            if not inner:
                return False
            found = True
        elif isinstance(child, cst.BaseCompoundStatement):
            return False
    return found


def _has_view_import(module: cst.Module) -> bool:
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.ImportFrom) and not isinstance(
                    small.names, cst.ImportStar
                ) and any(dotted(n.name) == VIEW_NAME for n in small.names):
                    return True
    return False


def _insert_module_lines(
    module: cst.Module,
    original: cst.Module,
    settings: set[str],
    view_import: bool,
    first_user: cst.CSTNode | None,
    has_os: bool,
) -> cst.Module:
    if not settings and not view_import:
        return module
    body = list(module.body)
    import_at = _after_imports(body)
    inserts: list[tuple[int, list[cst.SimpleStatementLine]]] = []
    if view_import and not _has_view_import(module):
        inserts.append((import_at, [cst.parse_statement(
            f"from {VIEW_MODULE} import {VIEW_NAME}\n")]))  # type: ignore[list-item]
    if settings:
        at = import_at
        if first_user is not None:
            at = min(at, _index(original, first_user))
        lines: list[cst.SimpleStatementLine] = []
        for i, name in enumerate(sorted(settings, key=list(SETTINGS_SOURCE).index)):
            stmt = cst.parse_statement(f"{name} = {SETTINGS_SOURCE[name]}\n")
            assert isinstance(stmt, cst.SimpleStatementLine)
            if i == 0:
                stmt = stmt.with_changes(leading_lines=[
                    cst.EmptyLine(), cst.EmptyLine(indent=False, comment=cst.Comment(
                        "# Cloud API (Meta Graph) settings used by the URLs below: set them "
                        "in the environment (sends fail while they are empty)."))])
            lines.append(stmt)
        inserts.append((at, lines))
    settings_lines = inserts[-1][1] if settings else None
    for at, lines in sorted(inserts, key=lambda x: x[0], reverse=True):
        if lines is settings_lines and at < len(body) and not body[at].leading_lines:
            body[at] = body[at].with_changes(leading_lines=[cst.EmptyLine()])
        body[at:at] = lines
    if settings and not has_os:
        _insert_stdlib_import(body, "os")
    return module.with_changes(body=body)


def _import_module(stmt: cst.CSTNode) -> tuple[str, bool] | None:
    """The top-level module an import line names, and whether it is a ``from`` import."""
    if not _is_import_line(stmt):
        return None
    assert isinstance(stmt, cst.SimpleStatementLine)
    small = stmt.body[0]
    if isinstance(small, cst.Import):
        return dotted(small.names[0].name).split(".")[0], False
    assert isinstance(small, cst.ImportFrom)
    if small.relative or small.module is None:
        return "", True  # a relative import: the project's own, last
    return dotted(small.module).split(".")[0], True


def _insert_stdlib_import(
    body: list[cst.SimpleStatementLine | cst.BaseCompoundStatement], name: str
) -> None:
    """Add ``import name`` where isort would: in the standard-library group, in order.

    With no standard-library import yet, it opens the block (after ``__future__``)
    with a blank line before the third-party group, as a person would write it.
    """
    new = cst.parse_statement(f"import {name}\n")
    last_std: int | None = None
    first_import: int | None = None
    for i, stmt in enumerate(body[:_after_imports(body)]):
        found = _import_module(stmt)
        if found is None:
            continue
        module, is_from = found
        if module == "__future__":
            continue
        if first_import is None:
            first_import = i
        if module in sys.stdlib_module_names:
            assert isinstance(stmt, cst.SimpleStatementLine)
            if is_from or module > name:
                new = new.with_changes(leading_lines=stmt.leading_lines)
                body[i] = stmt.with_changes(leading_lines=[])
                body.insert(i, new)
                return
            last_std = i
    if last_std is not None:
        body.insert(last_std + 1, new)
        return
    if first_import is None:
        body.insert(_after_imports(body), new)
        return
    following = body[first_import]
    assert isinstance(following, cst.SimpleStatementLine)  # an import line
    new = new.with_changes(leading_lines=following.leading_lines)
    body[first_import] = following.with_changes(leading_lines=[cst.EmptyLine()])
    body.insert(first_import, new)


__all__ = ["COMMENT_PREFIX", "SETTINGS_SOURCE", "apply", "comment_text"]
