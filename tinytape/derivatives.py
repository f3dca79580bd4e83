"""The derivatives table: every primitive of ops.py and fused.py with its rule and the lecture's
line, read from the primitives' docstrings (`python -m tinytape.ops`), like torch's
derivatives.yaml."""
import re


def rows(primitives):
    """(name, forward: rule, lecture's line or '') for each registered primitive."""
    out = []
    for name, fn in primitives.items():
        doc = " ".join((fn.__doc__ or "").split())
        lecture = re.search(r"\(lecture: (.*?)\)", doc)
        text = re.sub(r"\s*\(lecture: .*?\)", "", doc)
        out.append((name, text, lecture.group(1) if lecture else "", " ".join(fn.saves)))
    return out


def print_table(primitives):
    from . import fused  # noqa: F401  (registers the lecture's fused ops)
    table = rows(primitives)
    width = max(len(r[0]) for r in table)
    print(f"{'op'.ljust(width)} | saves | rule | the lecture's line")
    for name, rule, lecture, saves in table:
        print(f"{name.ljust(width)} | {saves or '-'} | {rule} | {lecture}")
