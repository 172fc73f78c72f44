"""One traversal that records what the rules need: scopes, assignments, calls, literals.

Name resolution is deliberately simple and per file: a name resolves to the
value it is assigned exactly once in the nearest enclosing function, class
body or module (function parameters, loop targets and augmented assignments
make a name unknown); ``self.x`` / ``cls.x`` resolve to the class attribute or
the one ``self.x = ...`` in the class's methods.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Final, Literal, TypeVar

import libcst as cst
from libcst.metadata import CodeRange, PositionProvider

from codemods.http_names import HTTP_MODULES, HTTP_VERBS
from codemods.literals import fstring_text_value, string_value
from codemods.urls import Atom, Dyn, Lit, Syn, interesting

_PERCENT_DIRECTIVE: Final = re.compile(r"%(\((\w+)\))?[-#0 +]*(\d+|\*)?(\.\d+)?[sdirfaxXeEgGc]")
_FORMAT_FIELD: Final = re.compile(r"\{([^{}]*)\}")
_HOST_PREFIX: Final = re.compile(r"https?://[^/]+")

OwnerKind = Literal["plain", "fstring", "percent", "format"]


@dataclass(eq=False)
class Scope:
    kind: Literal["module", "class", "function"]
    node: cst.CSTNode
    parent: Scope | None
    assigns: dict[str, list[tuple[cst.BaseExpression | None, Scope]]] = field(
        default_factory=dict
    )
    #: class scopes: ``self.x = ...`` seen in its methods
    self_attrs: dict[str, list[tuple[cst.BaseExpression | None, Scope]]] = field(
        default_factory=dict
    )
    #: function scopes: the name of the first parameter of a method (self/cls)
    self_name: str | None = None

    @property
    def enclosing_class(self) -> Scope | None:
        if self.kind == "function" and self.parent is not None and self.parent.kind == "class":
            return self.parent
        return None

    def function(self) -> Scope | None:
        s: Scope | None = self
        while s is not None:
            if s.kind == "function":
                return s
            s = s.parent
        return None


@dataclass(eq=False)
class Owner:
    """An editable string: a literal, an f-string's text part, a format template."""

    node: cst.CSTNode
    kind: OwnerKind
    value: str
    fstring: cst.FormattedString | None = None


@dataclass(eq=False)
class HttpCall:
    call: cst.Call
    method: str | None  # None: ``.request`` with a non-literal method
    url: cst.BaseExpression | None
    scope: Scope
    via: str  # receiver text, e.g. "requests", "self.http"


@dataclass(eq=False)
class Facts:
    module: cst.Module
    parents: dict[cst.CSTNode, cst.CSTNode]
    module_scope: Scope
    classes: dict[str, Scope] = field(default_factory=dict)
    scope_of: dict[cst.CSTNode, Scope] = field(default_factory=dict)
    leaves: list[cst.CSTNode] = field(default_factory=list)
    calls: list[cst.Call] = field(default_factory=list)
    http_calls: list[HttpCall] = field(default_factory=list)
    dicts: list[cst.Dict] = field(default_factory=list)
    subscript_assigns: list[tuple[cst.Assign, cst.Subscript, str, Scope]] = field(
        default_factory=list
    )
    attributes: list[cst.Attribute] = field(default_factory=list)
    #: ``x["key"]`` reads and writes with a literal key (response and webhook reads)
    subscripts: list[cst.Subscript] = field(default_factory=list)
    imports: list[tuple[cst.SimpleStatementLine, cst.Import | cst.ImportFrom]] = field(
        default_factory=list
    )
    #: local alias -> module it names (``import requests as rq`` -> rq: requests)
    module_aliases: dict[str, str] = field(default_factory=dict)
    #: local name -> "module.name" for ``from m import name``
    from_imports: dict[str, str] = field(default_factory=dict)
    owners: list[Owner] = field(default_factory=list)
    owner_index: dict[cst.CSTNode, int] = field(default_factory=dict)
    dyn_nodes: list[cst.CSTNode] = field(default_factory=list)
    dyn_index: dict[cst.CSTNode, int] = field(default_factory=dict)
    #: module-level ``def f(a, b): return <expr>`` helpers: name -> (params, expr, scope)
    helpers: dict[str, tuple[list[str], cst.BaseExpression, Scope]] = field(default_factory=dict)
    #: single-return methods: (class node, name) -> (params without self, expr, scope)
    method_helpers: dict[tuple[cst.CSTNode, str], tuple[list[str], cst.BaseExpression, Scope]] = (
        field(default_factory=dict))
    _bindings: dict[str, tuple[cst.BaseExpression, Scope]] = field(default_factory=dict)
    _binding_scope: Scope | None = None
    _positions: Mapping[cst.CSTNode, CodeRange] | None = None
    source: bytes | None = None
    _by_top: dict[cst.CSTNode, dict[cst.CSTNode, tuple[int, int]] | None] = field(
        default_factory=dict
    )
    _lines: dict[cst.CSTNode, int] | None = None

    # --- positions and statements ------------------------------------------

    def pos(self, node: cst.CSTNode) -> tuple[int, int]:
        """1-based line and column of a node.

        Computed per top-level statement: libcst positions of that statement
        alone, shifted to the line ``ast`` gives for it. That avoids generating
        the code of the whole file (the filler around a call site).
        """
        top = self._top_statement(node)
        if top is not None:
            found = self._positions_in(top)
            if found is not None:
                r = found.get(node)
                if r is not None:
                    return r
        r2 = self._all_positions().get(node)
        return (1, 1) if r2 is None else (r2.start.line, r2.start.column + 1)

    def _top_statement(self, node: cst.CSTNode) -> cst.CSTNode | None:
        cur: cst.CSTNode | None = node
        while cur is not None:
            parent = self.parents.get(cur)
            if parent is self.module:
                return cur
            cur = parent
        return None

    def _positions_in(self, top: cst.CSTNode) -> dict[cst.CSTNode, tuple[int, int]] | None:
        if top in self._by_top:
            return self._by_top[top]
        result: dict[cst.CSTNode, tuple[int, int]] | None = None
        if isinstance(top, cst.BaseStatement):
            sub = self.module.with_changes(body=[top], header=[], footer=[])
            ranges = cst.MetadataWrapper(sub, unsafe_skip_copy=True).resolve(PositionProvider)
            shift = self._lines_before(sub)
            if shift is None:
                first_line = self._top_lines().get(top)
                if first_line is not None:
                    shift = first_line - ranges[top].start.line
            if shift is not None:
                result = {n: (r.start.line + shift, r.start.column + 1)
                          for n, r in ranges.items()}
        self._by_top[top] = result
        return result

    def _lines_before(self, sub: cst.Module) -> int | None:
        """Lines of the file above a top-level statement, found by its own text.

        The statement's code (with the comments above it) occurs in the source
        at a line start; when it occurs exactly once, that is where it is, and
        counting newlines is far cheaper than parsing the file with ``ast``.
        None when the text is not found once (the ``ast`` lines decide then).
        """
        if self.source is None or self.module.default_newline == "\r":
            return None
        try:
            code = sub.code.encode(self.module.encoding)
        except (UnicodeEncodeError, LookupError):
            return None
        if not code:
            return None
        at = self.source.find(code)
        if at < 0 or (at > 0 and self.source[at - 1:at] not in (b"\n", b"\r")) or \
                self.source.find(code, at + 1) >= 0:
            return None
        return self.source.count(b"\n", 0, at)

    def _top_lines(self) -> dict[cst.CSTNode, int]:
        """First-token line of each top-level statement, from ``ast`` (C speed)."""
        if self._lines is not None:
            return self._lines
        self._lines = {}
        if self.source is None:
            return self._lines
        try:
            body = ast.parse(self.source).body
        except (SyntaxError, ValueError):
            return self._lines
        i = 0
        for stmt in self.module.body:
            if i >= len(body):
                self._lines = {}
                break
            node = body[i]
            if isinstance(stmt, cst.SimpleStatementLine):
                i += len(stmt.body)
                self._lines[stmt] = node.lineno
            else:
                i += 1
                self._lines[stmt] = node.lineno  # both start at the keyword, not a decorator
        if i != len(body):
            self._lines = {}  # the two parsers disagree: use whole-module positions
        return self._lines

    def _all_positions(self) -> Mapping[cst.CSTNode, CodeRange]:
        if self._positions is None:
            wrapper = cst.MetadataWrapper(self.module, unsafe_skip_copy=True)
            self._positions = wrapper.resolve(PositionProvider)
        return self._positions

    def statement_of(self, node: cst.CSTNode) -> cst.CSTNode:
        """The statement a ``# waba-migrate:`` comment goes above."""
        cur: cst.CSTNode | None = node
        while cur is not None:
            if isinstance(cur, cst.SimpleStatementLine | cst.BaseCompoundStatement):
                return cur
            cur = self.parents.get(cur)
        return node

    def code(self, node: cst.CSTNode, limit: int = 60) -> str:
        text = " ".join(self.module.code_for_node(node).split())
        return text if len(text) <= limit else text[: limit - 3] + "..."

    # --- name resolution -------------------------------------------------

    def lookup(
        self, name: str, scope: Scope
    ) -> list[tuple[cst.BaseExpression | None, Scope]] | None:
        s: Scope | None = scope
        first = True
        while s is not None:
            if s.kind == "class" and not first:
                s = s.parent
                continue
            if name in s.assigns:
                return s.assigns[name]
            first = False
            s = s.parent
        return None

    def resolve(
        self, node: cst.BaseExpression, scope: Scope
    ) -> tuple[cst.BaseExpression, Scope] | None:
        """The single expression a name or ``self.attr`` stands for, if there is one."""
        found: list[tuple[cst.BaseExpression | None, Scope]] | None = None
        if isinstance(node, cst.Name):
            found = self.lookup(node.value, scope)
        elif isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name):
            owner = node.value.value
            attr = node.attr.value
            fn = scope.function()
            cls = fn.enclosing_class if fn is not None else None
            if cls is not None and fn is not None and owner == fn.self_name:
                found = cls.assigns.get(attr) or cls.self_attrs.get(attr)
            elif owner in self.classes:
                found = self.classes[owner].assigns.get(attr)
        if not found or len(found) != 1:
            return None
        value, where = found[0]
        return (value, where) if value is not None else None

    def dict_values(self, node: cst.BaseExpression, scope: Scope) -> list[cst.Dict]:
        """Dict literals a name is assigned in its scope (for payload flow)."""
        if isinstance(node, cst.Dict):
            return [node]
        if isinstance(node, cst.Name):
            found = self.lookup(node.value, scope) or []
            return [v for v, _ in found if isinstance(v, cst.Dict)]
        return []

    # --- URL flattening ---------------------------------------------------

    def owner(self, node: cst.CSTNode, kind: OwnerKind, value: str,
              fstring: cst.FormattedString | None = None) -> int:
        key = self.owner_index.get(node)
        if key is None:
            key = len(self.owners)
            self.owners.append(Owner(node, kind, value, fstring))
            self.owner_index[node] = key
        return key

    def dyn(self, node: cst.CSTNode) -> Dyn:
        key = self.dyn_index.get(node)
        if key is None:
            key = len(self.dyn_nodes)
            self.dyn_nodes.append(node)
            self.dyn_index[node] = key
        return Dyn(key)

    def flatten(self, node: cst.BaseExpression, scope: Scope, depth: int = 0) -> list[Atom]:
        """The URL template an expression builds (see codemods.urls)."""
        if depth > 8:
            return [self.dyn(node)]
        if isinstance(node, cst.SimpleString):
            value = string_value(node)
            if value is None:
                return [self.dyn(node)]
            return [Lit(self.owner(node, "plain", value), 0, value)]
        if isinstance(node, cst.ConcatenatedString):
            left, right = node.left, node.right
            if isinstance(right, cst.BaseExpression):
                return (self.flatten(left, scope, depth + 1)
                        + self.flatten(right, scope, depth + 1))
            return [self.dyn(node)]
        if isinstance(node, cst.FormattedString):
            return self._flatten_fstring(node, scope, depth)
        if isinstance(node, cst.BinaryOperation):
            if isinstance(node.operator, cst.Add):
                return (self.flatten(node.left, scope, depth + 1)
                        + self.flatten(node.right, scope, depth + 1))
            if isinstance(node.operator, cst.Modulo) and isinstance(node.left, cst.SimpleString):
                return self._flatten_percent(node, scope, depth)
            return [self.dyn(node)]
        if isinstance(node, cst.Call):
            return self._flatten_call(node, scope, depth)
        if (isinstance(node, cst.Name) and scope is self._binding_scope
                and node.value in self._bindings):
            bound, where = self._bindings[node.value]
            return self.flatten(bound, where, depth + 1)
        if isinstance(node, cst.Name | cst.Attribute):
            hit = self.resolve(node, scope)
            if hit is not None:
                return self.flatten(hit[0], hit[1], depth + 1)
        return [self.dyn(node)]

    def flatten_helper_call(self, call: cst.Call, scope: Scope) -> list[Atom] | None:
        """The URL ``helper("messages")`` returns, for a one-line module helper."""
        if not isinstance(call.func, cst.Name) or call.func.value not in self.helpers:
            return None
        params, expr, helper_scope = self.helpers[call.func.value]
        args = [a for a in call.args if a.keyword is None and not a.star]
        if len(args) > len(params) or any(a.star for a in call.args):
            return None
        bindings = {p: (a.value, scope) for p, a in zip(params, args, strict=False)}
        for a in call.args:
            if a.keyword is not None and a.keyword.value in params:
                bindings[a.keyword.value] = (a.value, scope)
        self._bindings, self._binding_scope = bindings, helper_scope
        try:
            return self.flatten(expr, helper_scope)
        finally:
            self._bindings, self._binding_scope = {}, None

    def _flatten_fstring(
        self, node: cst.FormattedString, scope: Scope, depth: int
    ) -> list[Atom]:
        atoms: list[Atom] = []
        for part in node.parts:
            if isinstance(part, cst.FormattedStringText):
                value = fstring_text_value(part, node)
                if value is None:
                    return [self.dyn(node)]
                atoms.append(Lit(self.owner(part, "fstring", value, node), 0, value))
            elif isinstance(part, cst.FormattedStringExpression):
                if part.conversion is None and part.format_spec is None and part.equal is None:
                    atoms.extend(self.flatten(part.expression, scope, depth + 1))
                else:
                    atoms.append(self.dyn(part.expression))
        return atoms

    def _flatten_percent(
        self, node: cst.BinaryOperation, scope: Scope, depth: int
    ) -> list[Atom]:
        left = node.left
        assert isinstance(left, cst.SimpleString)
        value = string_value(left)
        if value is None or "%%" in value:
            return [self.dyn(node)]
        right = node.right
        positional: list[cst.BaseExpression] = []
        named: dict[str, cst.BaseExpression] = {}
        if isinstance(right, cst.Tuple):
            for el in right.elements:
                if isinstance(el, cst.StarredElement):
                    return [self.dyn(node)]
                positional.append(el.value)
        elif isinstance(right, cst.Dict):
            for d_el in right.elements:
                if not isinstance(d_el, cst.DictElement):
                    return [self.dyn(node)]
                name = string_value(d_el.key)
                if name is None:
                    return [self.dyn(node)]
                named[name] = d_el.value
        else:
            positional.append(right)
        key = self.owner(left, "percent", value)
        atoms: list[Atom] = []
        pos = 0
        index = 0
        for m in _PERCENT_DIRECTIVE.finditer(value):
            if m.start() > pos:
                atoms.append(Lit(key, pos, value[pos:m.start()]))
            field_name = m.group(2)
            if field_name is not None and field_name in named:
                atoms.extend(self.flatten(named[field_name], scope, depth + 1))
            elif field_name is None and index < len(positional) and m.group(0).endswith("s"):
                atoms.extend(self.flatten(positional[index], scope, depth + 1))
                index += 1
            elif field_name is None and index < len(positional):
                atoms.append(self.dyn(positional[index]))
                index += 1
            else:
                return [self.dyn(node)]
            pos = m.end()
        if pos < len(value):
            atoms.append(Lit(key, pos, value[pos:]))
        return atoms

    def _flatten_call(self, node: cst.Call, scope: Scope, depth: int) -> list[Atom]:
        func = node.func
        if (isinstance(func, cst.Attribute) and func.attr.value == "format"
                and isinstance(func.value, cst.SimpleString)):
            return self._flatten_format(node, func.value, scope, depth)
        if _callee_name(func).endswith("urljoin") and len(node.args) == 2 and all(
            a.keyword is None and not a.star for a in node.args
        ):
            return self._flatten_urljoin(node, scope, depth)
        if _callee_name(func) in ("urlunparse", "urlunsplit") and len(node.args) == 1:
            return self._flatten_unparse(node, scope, depth)
        method = self._method_helper(func, scope)
        if method is not None:
            return self._flatten_method(node, method, scope, depth)
        return [self.dyn(node)]

    def _method_helper(self, func: cst.BaseExpression, scope: Scope
                       ) -> tuple[list[str], cst.BaseExpression, Scope] | None:
        """``self.make_url`` in a method, when ``make_url`` is a one-line method of the class."""
        if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)):
            return None
        fn = scope.function()
        cls = fn.enclosing_class if fn is not None else None
        if cls is None or fn is None or func.value.value != fn.self_name:
            return None
        return self.method_helpers.get((cls.node, func.attr.value))

    def _flatten_method(self, node: cst.Call, method: tuple[list[str], cst.BaseExpression, Scope],
                        scope: Scope, depth: int) -> list[Atom]:
        params, expr, helper_scope = method
        args = [a for a in node.args if a.keyword is None]
        if len(args) > len(params) or any(a.star for a in node.args):
            return [self.dyn(node)]
        bindings = {p: (a.value, scope) for p, a in zip(params, args, strict=False)}
        for a in node.args:
            if a.keyword is not None and a.keyword.value in params:
                bindings[a.keyword.value] = (a.value, scope)
        saved = self._bindings, self._binding_scope
        self._bindings, self._binding_scope = bindings, helper_scope
        try:
            return self.flatten(expr, helper_scope, depth + 1)
        finally:
            self._bindings, self._binding_scope = saved

    def _flatten_unparse(self, node: cst.Call, scope: Scope, depth: int) -> list[Atom]:
        """``urlunparse((scheme, netloc, path, "", "", ""))``: scheme://netloc + path."""
        parts = node.args[0].value
        if isinstance(parts, cst.Call) and _callee_name(parts.func) in ("ParseResult",
                                                                         "SplitResult"):
            kw = {a.keyword.value: a.value for a in parts.args if a.keyword is not None}
            if len(kw) != len(parts.args) or not {"scheme", "netloc", "path"} <= kw.keys():
                return [self.dyn(node)]
            if any(string_value(v) != "" for k, v in kw.items()
                   if k not in ("scheme", "netloc", "path")):
                return [self.dyn(node)]
            return [*self.flatten(kw["scheme"], scope, depth + 1), Syn("://"),
                    *self.flatten(kw["netloc"], scope, depth + 1),
                    *_rooted(self.flatten(kw["path"], scope, depth + 1))]
        if not isinstance(parts, cst.Tuple | cst.List) or len(parts.elements) < 3 or any(
            isinstance(el, cst.StarredElement) for el in parts.elements
        ):
            return [self.dyn(node)]
        rest = [el.value for el in parts.elements[3:]]
        if any(string_value(v) != "" for v in rest):
            return [self.dyn(node)]
        scheme, netloc, path = (el.value for el in parts.elements[:3])
        return [*self.flatten(scheme, scope, depth + 1), Syn("://"),
                *self.flatten(netloc, scope, depth + 1),
                *_rooted(self.flatten(path, scope, depth + 1))]

    def _flatten_format(
        self, node: cst.Call, template: cst.SimpleString, scope: Scope, depth: int
    ) -> list[Atom]:
        value = string_value(template)
        if value is None or "{{" in value or "}}" in value:
            return [self.dyn(node)]
        positional: list[cst.BaseExpression] = []
        named: dict[str, cst.BaseExpression] = {}
        #: ``.format(**settings)``: the named fields come from that mapping at run time
        mapping: cst.BaseExpression | None = None
        for call_arg in node.args:
            if call_arg.star == "**" and mapping is None:
                mapping = call_arg.value
                continue
            if call_arg.star:
                return [self.dyn(node)]
            if call_arg.keyword is not None:
                named[call_arg.keyword.value] = call_arg.value
            else:
                positional.append(call_arg.value)
        key = self.owner(template, "format", value)
        atoms: list[Atom] = []
        pos = 0
        auto = 0
        for m in _FORMAT_FIELD.finditer(value):
            if m.start() > pos:
                atoms.append(Lit(key, pos, value[pos:m.start()]))
            spec = m.group(1)
            name = re.split(r"[!:]", spec, maxsplit=1)[0]
            arg: cst.BaseExpression | None = None
            if name == "":
                arg = positional[auto] if auto < len(positional) else None
                auto += 1
            elif name.isdigit():
                i = int(name)
                arg = positional[i] if i < len(positional) else None
            elif name.isidentifier():
                arg = named.get(name)
                if arg is None and mapping is not None:
                    atoms.append(self.dyn(mapping))
                    pos = m.end()
                    continue
            if arg is None:
                return [self.dyn(node)]
            if spec != name:
                atoms.append(self.dyn(arg))
            else:
                atoms.extend(self.flatten(arg, scope, depth + 1))
            pos = m.end()
        if pos < len(value):
            atoms.append(Lit(key, pos, value[pos:]))
        return atoms

    def _flatten_urljoin(self, node: cst.Call, scope: Scope, depth: int) -> list[Atom]:
        base = self.flatten(node.args[0].value, scope, depth + 1)
        rel = self.flatten(node.args[1].value, scope, depth + 1)
        if not rel or not isinstance(rel[0], Lit):
            return [self.dyn(node)]
        absolute = rel[0].text.startswith("/")
        if all(isinstance(a, Lit) for a in base):
            text = "".join(a.text for a in base if isinstance(a, Lit))
            m = _HOST_PREFIX.match(text)
            if m is None:
                return [self.dyn(node)]
            if absolute:
                keep = m.end()
            elif "/" in text[m.end():]:
                keep = text.rfind("/") + 1
            else:
                return [*base, Syn("/"), *rel]
            return _take(base, keep) + rel
        if isinstance(base[-1], Dyn) and all(isinstance(a, Dyn) for a in base):
            return [*base, *rel] if absolute else [*base, Syn("/"), *rel]
        return [self.dyn(node)]


def _single_return(fn: cst.FunctionDef) -> cst.BaseExpression | None:
    body = fn.body
    if not isinstance(body, cst.IndentedBlock):
        return None
    stmts = list(body.body)
    if stmts and isinstance(stmts[0], cst.SimpleStatementLine) and isinstance(
        stmts[0].body[0], cst.Expr
    ) and isinstance(stmts[0].body[0].value, cst.SimpleString):
        stmts = stmts[1:]  # docstring
    if len(stmts) != 1 or not isinstance(stmts[0], cst.SimpleStatementLine):
        return None
    small = stmts[0].body
    if len(small) != 1 or not isinstance(small[0], cst.Return) or small[0].value is None:
        return None
    return small[0].value


def _rooted(path: list[Atom]) -> list[Atom]:
    """urlunparse puts a "/" before a path that lacks one when there is a netloc."""
    if path and isinstance(path[0], Lit) and path[0].text and not path[0].text.startswith("/"):
        return [Syn("/"), *path]
    return path


def _take(atoms: Sequence[Atom], n: int) -> list[Atom]:
    """The first ``n`` characters of an all-literal template."""
    out: list[Atom] = []
    for a in atoms:
        if n <= 0:
            break
        assert isinstance(a, Lit)
        if len(a.text) <= n:
            out.append(a)
            n -= len(a.text)
        else:
            out.append(Lit(a.owner, a.start, a.text[:n]))
            n = 0
    return out


def _callee_name(func: cst.BaseExpression) -> str:
    if isinstance(func, cst.Name):
        return func.value
    if isinstance(func, cst.Attribute):
        return func.attr.value
    return ""


def dotted(node: cst.BaseExpression) -> str:
    """``a.b.c`` for a chain of names/attributes, else ""."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        inner = dotted(node.value)
        return f"{inner}.{node.attr.value}" if inner else ""
    return ""


#: Fields that hold only whitespace, comments or punctuation: no rule looks at them, and
#: they are about half of all nodes, so the walk does not enter them.
_LAYOUT_FIELDS: Final = frozenset({
    "lpar", "rpar", "comma", "leading_lines", "lines_after_decorators", "header", "footer",
    "semicolon", "newline", "trailing_whitespace", "equal", "dot", "colon", "lbrace", "rbrace",
    "lbracket", "rbracket", "asynchronous",
})


@cache
def _child_fields(cls: type) -> tuple[str, ...]:
    """A node class's fields that can hold nodes a rule looks at, in source order."""
    names = [f.name for f in dataclasses.fields(cls)
             if f.name not in _LAYOUT_FIELDS and not f.name.startswith("whitespace")]
    if "decorators" in names:  # decorators come first in the source, last in the dataclass
        names.remove("decorators")
        names.insert(0, "decorators")
    return tuple(names)


@cache
def _node_classes() -> frozenset[type]:
    """Every concrete libcst node class (a set lookup beats ``isinstance`` on an ABC)."""
    out: set[type] = set()
    todo: list[type] = [cst.CSTNode]
    while todo:
        cls = todo.pop()
        out.add(cls)
        todo.extend(cls.__subclasses__())
    return frozenset(out)


_Plan = tuple[str | None, str | None, tuple[str, ...]]
_PLANS: dict[type, _Plan] = {}


def _plan(cls: type) -> _Plan:
    """Per node class: its visit and leave hook names (if the collector has them), its fields."""
    plan = _PLANS.get(cls)
    if plan is None:
        visit, leave = "visit_" + cls.__name__, "leave_" + cls.__name__
        plan = (visit if hasattr(_Collector, visit) else None,
                leave if hasattr(_Collector, leave) else None, _child_fields(cls))
        _PLANS[cls] = plan
    return plan


def _walk(root: cst.CSTNode, collector: _Collector) -> None:
    """Pre-order walk over dataclass fields (far cheaper than libcst's visitor dispatch).

    Hot path: per node one plan lookup; a leave marker is pushed only for the
    few classes with a leave hook, and layout fields are never entered.
    """
    parents = collector.facts.parents
    node_types = _node_classes()
    stack: list[cst.CSTNode | tuple[str]] = [root]
    pop, push = stack.pop, stack.append
    while stack:
        item = pop()
        if type(item) is tuple:  # a leave marker: (hook name,) for the node below it
            getattr(collector, item[0])(pop())
            continue
        node: cst.CSTNode = item  # type: ignore[assignment]
        visit, leave, names = _PLANS.get(type(node)) or _plan(type(node))
        if visit is not None:
            getattr(collector, visit)(node)
        if leave is not None:
            push(node)
            push((leave,))
        if not names:
            continue
        children: list[cst.CSTNode] = []
        for name in names:
            value = getattr(node, name)
            cls = value.__class__
            if cls in node_types:
                children.append(value)
            elif cls is list or cls is tuple:
                children.extend(v for v in value if v.__class__ in node_types)  # type: ignore[misc]
        for child in reversed(children):
            parents[child] = node
            push(child)


class _Collector:
    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.scope = facts.module_scope

    # scopes

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        scope = Scope("class", node, self.scope)
        if self.scope.kind == "module":
            self.facts.classes[node.name.value] = scope
        self._bind(node.name.value, None)
        self.scope = scope

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        assert self.scope.parent is not None
        self.scope = self.scope.parent

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._bind(node.name.value, None)
        scope = Scope("function", node, self.scope)
        params = [*node.params.posonly_params, *node.params.params]
        if self.scope.kind == "class" and params:
            scope.self_name = params[0].name.value
        for p in [*params, *node.params.kwonly_params]:
            scope.assigns.setdefault(p.name.value, []).append((None, scope))
        for star in (node.params.star_arg, node.params.star_kwarg):
            if isinstance(star, cst.Param):
                scope.assigns.setdefault(star.name.value, []).append((None, scope))
        self.scope = scope

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        assert self.scope.parent is not None
        scope = self.scope
        self.scope = self.scope.parent
        if self.scope.kind in ("module", "class"):
            expr = _single_return(original_node)
            if expr is not None:
                params = [p.name.value for p in (*original_node.params.posonly_params,
                                                 *original_node.params.params)]
                if self.scope.kind == "module":
                    self.facts.helpers[original_node.name.value] = (params, expr, scope)
                elif params:
                    self.facts.method_helpers[(self.scope.node, original_node.name.value)] = (
                        params[1:], expr, scope)

    # bindings

    def _bind(self, name: str, value: cst.BaseExpression | None) -> None:
        self.scope.assigns.setdefault(name, []).append((value, self.scope))

    def _record(self, target: cst.BaseExpression, value: cst.BaseExpression | None) -> None:
        if isinstance(target, cst.Name):
            self._bind(target.value, value)
        elif isinstance(target, cst.Tuple | cst.List):
            values: Sequence[cst.BaseElement] | None = None
            if isinstance(value, cst.Tuple | cst.List) and len(value.elements) == len(
                target.elements
            ):
                values = value.elements
            for i, el in enumerate(target.elements):
                v = values[i].value if values is not None else None
                if isinstance(el, cst.StarredElement):
                    self._record(el.value, None)
                else:
                    self._record(el.value, v)
        elif isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name):
            fn = self.scope.function()
            cls = fn.enclosing_class if fn is not None else None
            if fn is not None and cls is not None and target.value.value == fn.self_name:
                cls.self_attrs.setdefault(target.attr.value, []).append((value, fn))
        elif isinstance(target, cst.Subscript):
            pass

    def visit_Assign(self, node: cst.Assign) -> None:
        for t in node.targets:
            self._record(t.target, node.value)
            if isinstance(t.target, cst.Subscript) and len(t.target.slice) == 1:
                index = t.target.slice[0].slice
                if isinstance(index, cst.Index):
                    key = string_value(index.value)
                    if key is not None:
                        self.facts.subscript_assigns.append((node, t.target, key, self.scope))

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._record(node.target, node.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._record(node.target, None)

    def visit_For(self, node: cst.For) -> None:
        self._record(node.target, None)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None and isinstance(node.asname.name, cst.BaseExpression):
            self._record(node.asname.name, None)

    def visit_Global(self, node: cst.Global) -> None:
        for n in node.names:
            self._bind(n.name.value, None)

    # imports

    def visit_Import(self, node: cst.Import) -> None:
        stmt = self.facts.parents.get(node)
        if isinstance(stmt, cst.SimpleStatementLine):
            self.facts.imports.append((stmt, node))
        for alias in node.names:
            name = dotted(alias.name)
            local = alias.asname.name if alias.asname else None
            if isinstance(local, cst.Name):
                self.facts.module_aliases[local.value] = name
                self._bind(local.value, None)
            else:
                top = name.split(".")[0]
                self.facts.module_aliases.setdefault(top, top)
                self._bind(top, None)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        stmt = self.facts.parents.get(node)
        if isinstance(stmt, cst.SimpleStatementLine):
            self.facts.imports.append((stmt, node))
        mod = dotted(node.module) if node.module is not None else ""
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            name = dotted(alias.name)
            local = alias.asname.name if alias.asname else None
            local_name = local.value if isinstance(local, cst.Name) else name
            self.facts.from_imports[local_name] = f"{mod}.{name}"
            self._bind(local_name, None)

    # things the rules look at

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        value = string_value(node)
        if value is not None and interesting(value):
            self.facts.leaves.append(node)
            self.facts.scope_of[node] = self.scope

    def visit_FormattedStringText(self, node: cst.FormattedStringText) -> None:
        if interesting(node.value):
            self.facts.leaves.append(node)
            self.facts.scope_of[node] = self.scope

    def visit_Call(self, node: cst.Call) -> None:
        self.facts.calls.append(node)
        self.facts.scope_of[node] = self.scope
        http = _http_call(node, self.facts, self.scope)
        if http is not None:
            self.facts.http_calls.append(http)

    def visit_Dict(self, node: cst.Dict) -> None:
        self.facts.dicts.append(node)
        self.facts.scope_of[node] = self.scope

    def visit_Subscript(self, node: cst.Subscript) -> None:
        self.facts.subscripts.append(node)
        self.facts.scope_of[node] = self.scope

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value in ("json", "data", "body"):
            self.facts.attributes.append(node)
            self.facts.scope_of[node] = self.scope


def _http_call(node: cst.Call, facts: Facts, scope: Scope) -> HttpCall | None:
    func = node.func
    verb: str | None = None
    via = ""
    if isinstance(func, cst.Attribute):
        verb = func.attr.value
        via = dotted(func.value) or "<expr>"
    elif isinstance(func, cst.Name):
        origin = facts.from_imports.get(func.value, "")
        if origin.split(".")[0] in HTTP_MODULES:
            verb = origin.rsplit(".", 1)[-1]
            via = origin.split(".")[0]
    if verb is None:
        return None
    args = [a for a in node.args if a.keyword is None and not a.star]
    kw = {a.keyword.value: a.value for a in node.args if a.keyword is not None}
    if verb in HTTP_VERBS:
        url = args[0].value if args else kw.get("url")
        return HttpCall(node, verb.upper(), url, scope, via)
    if verb == "request":
        method_node = args[0].value if args else kw.get("method")
        url = args[1].value if len(args) > 1 else kw.get("url")
        method = string_value(method_node) if method_node is not None else None
        return HttpCall(node, method.upper() if method else None, url, scope, via)
    return None


def collect(module: cst.Module, source: bytes | None = None) -> Facts:
    facts = Facts(module, {}, Scope("module", module, None), source=source)
    _walk(module, _Collector(facts))
    return facts


def iter_parents(facts: Facts, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    cur = facts.parents.get(node)
    while cur is not None:
        yield cur
        cur = facts.parents.get(cur)


def descendants(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """``node`` and every node below it (depth first, last child first)."""
    stack = [node]
    while stack:
        cur = stack.pop()
        yield cur
        stack.extend(cur.children)


_Node = TypeVar("_Node", bound=cst.CSTNode)


def enclosing(facts: Facts, node: cst.CSTNode, kind: type[_Node]) -> _Node | None:
    """The nearest ancestor of ``node`` that is a ``kind`` (the class or function it is in)."""
    return next((p for p in iter_parents(facts, node) if isinstance(p, kind)), None)
