"""The derivatives table, like torch's derivatives.yaml: every primitive of ops.py, more_ops.py and fused.py
with what its rule keeps, its rule and the lecture's line, read from the primitives' docstrings.

    python -m tinytape.derivatives
"""
import re

from . import fused, more_ops, ops  # noqa: F401  (importing them registers every primitive)
from .registry import PRIMITIVES

_LECTURE = re.compile(r"\s*\(lecture: ((?:`[^`]*`[^`()]*)+)\)")


def rows():
    """(name, saves, rule, the lecture's line or '') for each registered primitive."""
    out = []
    for name, fn in PRIMITIVES.items():
        doc = " ".join((fn.__doc__ or "").split())
        lecture = _LECTURE.search(doc)
        out.append((name, " ".join(fn.saves), _LECTURE.sub("", doc), lecture.group(1) if lecture else ""))
    return out


def table():
    lines = ["| op | saves | rule | the lecture's line |", "| --- | --- | --- | --- |"]
    for name, saves, rule, lecture in rows():
        rule = rule.replace("|", "\\|")                   # |x| in a markdown cell
        lines.append(f"| {name} | {saves or '-'} | {rule} | {lecture} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
