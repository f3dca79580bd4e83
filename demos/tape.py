"""Seeing the tape: the lecture's forward pass as tinytape recorded it, and its graph.

    python -m demos.tape [--names PATH] [--out DIR] [--format svg|png]

Prints the tape in execution order (entry, op, input shapes, output shape, the dims backward sums
an input's gradient over because broadcasting replicated it, and each gradient's norm after
backward), then writes the graph as Graphviz DOT (out/tape.dot) and draws it (out/tape.svg): with
Graphviz's `dot` program when it is installed, else with tinytape's own layout (PNG needs Graphviz:
without it the picture is the SVG).
"""
import argparse
import sys
from pathlib import Path

import tinytape
from tinytape import viz

from nn.data import NamesNotFoundError, command

from . import lecture


def parse(argv):
    ap = argparse.ArgumentParser(prog="python -m demos.tape", description=__doc__.split("\n")[0])
    ap.add_argument("--names", help="path of names.txt (default: $TINYTAPE_NAMES, the cache, a download; "
                    "else a synthetic batch)")
    ap.add_argument("--out", default=None, help="directory for tape.dot and the picture (default: out, or out/quick with --quick)")
    ap.add_argument("--format", default="svg", choices=["svg", "png"], help="picture format (default: svg)")
    ap.add_argument("--no-torch", action="store_true", help="numpy-generated parameters even if torch is there")
    ap.add_argument("--quick", action="store_true", help="accepted for uniformity (this demo is quick): "
                    "writes into out/quick")
    args = ap.parse_args(argv)
    if args.out is None:
        args.out = "out/quick" if args.quick else "out"
    return args


def main(argv=None):
    """Returns {"entries": [viz.Entry] in execution order, "table": viz.TapeTable (a str), "dot": str,
    "dot_path": Path, "picture": Path of the drawing, "graph": viz.Picture (shown inline in Jupyter),
    "source"}."""
    args = parse(argv)
    s = lecture.setup(args.names, use_torch=False if args.no_torch else None,
                      command=command("python -m demos.tape", argv))
    print(f"the tape of the lecture's forward pass\n{s.source}\n")
    t = lecture.run(tinytape, s)                           # forward, then loss.backward()
    entries = viz.entries(t)
    table = viz.table(t)
    print(table)
    sums = [(e.name or e.op, lab, d) for e in entries for lab, _, d in e.inputs if d]
    print(f"\n{len(entries)} entries; backward sums a gradient over broadcast dims in {len(sums)} of them "
          f"(the lecture: \"When a value gets used multiple times, we just sum up the contributions\")")
    dot = viz.dot(t, title="becoming a backprop ninja: the forward pass")
    out = Path(args.out)
    dot_path = viz.render(dot, out / "tape.dot")
    picture = viz.render(dot, out / f"tape.{args.format}")
    how = "Graphviz" if viz.have_dot() else "tinytape's own layout: Graphviz is not installed"
    print(f"wrote {dot_path} and {picture} ({how})")
    return {"entries": entries, "table": table, "dot": dot, "dot_path": dot_path, "picture": picture,
            "graph": viz.Picture(dot), "source": s.source}


if __name__ == "__main__":
    try:
        main()
    except NamesNotFoundError as e:
        sys.exit(f"error: {e}")
