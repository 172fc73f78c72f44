"""Keeping continuation lines where a person would put them after an edit on line one.

When an edit makes the first line of a call longer or shorter before its
opening bracket (``put(`` becomes ``post(``), lines aligned with that bracket
(or anything right of it) must move by the same amount, or they are left at
the old indentation. Lines indented less (a hanging indent, a closing
bracket) stay where they are.
"""

from __future__ import annotations

import libcst as cst


class _Shift(cst.CSTTransformer):
    def __init__(self, delta: int, threshold: int) -> None:
        super().__init__()
        self.delta = delta
        self.threshold = threshold

    def leave_ParenthesizedWhitespace(
        self, original_node: cst.ParenthesizedWhitespace,
        updated_node: cst.ParenthesizedWhitespace,
    ) -> cst.ParenthesizedWhitespace:
        pad = updated_node.last_line.value
        if not updated_node.indent or "\t" in pad or len(pad) < self.threshold:
            return updated_node
        return updated_node.with_changes(
            last_line=cst.SimpleWhitespace(" " * max(0, len(pad) + self.delta)))


def shift_aligned_args(call: cst.Call, delta: int, paren_column: int | None) -> cst.Call:
    """``call`` with the argument lines aligned at or right of its bracket moved by ``delta``.

    ``paren_column``: the column just right of ``(``, past the block's
    indentation (as a continuation line's padding counts). Nothing moves for
    a hanging indent (a line break right after the bracket).
    """
    if (delta == 0 or paren_column is None
            or isinstance(call.whitespace_before_args, cst.ParenthesizedWhitespace)):
        return call
    shift = _Shift(delta, paren_column)
    return call.with_changes(args=[arg.visit(shift) for arg in call.args])
