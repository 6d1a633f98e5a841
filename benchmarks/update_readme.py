#!/usr/bin/env python
"""Regenerate the README's benchmark figures from the benchmarks, never by hand.

Every figure the README quotes sits in a block that names the command which printed it::

    <!-- output of: python benchmarks/bench_adam.py -->
    ```
    ... what the command printed, verbatim ...
    ```
    <!-- end of output -->

This script runs each block's command from the repository root (``python`` is this interpreter)
and puts what it printed between the markers. A block may show only the end of the output,
from the first line containing a text: ``<!-- output of: COMMAND, from "summary of" -->``; blocks
with one command share one run of it. Nothing is written until every selected command has
succeeded: a command that fails, or a marker without its partner, leaves the README as it
was and says which command or line.

::

    python benchmarks/update_readme.py --list             # the blocks' commands
    python benchmarks/update_readme.py                    # run them all (about half an hour)
    python benchmarks/update_readme.py --only bench_adam  # the blocks whose command contains this

Run it on a machine doing nothing else: the benchmarks run peers side by side and print ratios,
but two jobs on two cores still disturb each other.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from gradengine._files import atomic_write

REPO = Path(__file__).resolve().parents[1]
BEGIN = re.compile(r'^<!-- output of: (?P<command>.+?)(?:, from "(?P<start>[^"]+)")? -->$')
END = "<!-- end of output -->"


class ReadmeError(Exception):
    """A README whose blocks cannot be regenerated, or a command that failed; nothing written."""


@dataclass(frozen=True)
class Block:
    command: str
    start: str | None  # show the output from the first line containing this (None: all of it)
    begin: int  # index of the opening marker line
    end: int  # index of the closing marker line


def find_blocks(lines: list[str], name: str = "README.md") -> list[Block]:
    """The output blocks of a README's ``lines`` (without line ends), in order."""
    blocks, open_at, command = [], None, ""
    for i, line in enumerate(lines):
        m = BEGIN.match(line.strip())
        if m:
            if open_at is not None:
                raise ReadmeError(f"{name}, line {i + 1}: a new output block starts before the one of line "
                                  f"{open_at + 1} ({command!r}) ends with {END!r}")
            open_at, command, start = i, m["command"].strip(), m["start"]
        elif line.strip() == END:
            if open_at is None:
                raise ReadmeError(f"{name}, line {i + 1}: {END!r} without an opening '<!-- output of: ... -->'")
            blocks.append(Block(command, start, open_at, i))
            open_at = None
    if open_at is not None:
        raise ReadmeError(f"{name}, line {open_at + 1}: the output block of {command!r} never ends (no {END!r})")
    return blocks


def argv_of(command: str) -> list[str]:
    """The command as an argument list, ``python`` being this interpreter."""
    argv = shlex.split(command)
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return argv


def run_command(command: str, timeout: float) -> str:
    """What ``command`` prints on stdout, run from the repository root; ReadmeError if it fails."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), *filter(None, [env.get("PYTHONPATH")])])
    try:
        proc = subprocess.run(argv_of(command), cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as e:
        raise ReadmeError(f"{command!r}: cannot run it: {e.strerror}: {e.filename}") from None
    except subprocess.TimeoutExpired:
        raise ReadmeError(f"{command!r}: still running after {timeout:.0f} s (--timeout)") from None
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:]) or "(nothing on stderr)"
        raise ReadmeError(f"{command!r} exited with status {proc.returncode}:\n{tail}")
    return proc.stdout


def regenerate(text: str, outputs: dict[str, str], name: str = "README.md") -> str:
    """``text`` with the block of every command in ``outputs`` replaced by that output; the
    other lines, and the blocks of other commands, unchanged."""
    lines = text.split("\n")
    blocks = find_blocks(lines, name)
    for block in reversed(blocks):  # from the end, so earlier indices stay valid
        if block.command in outputs:
            body = outputs[block.command].rstrip("\n").split("\n")
            if block.start is not None:
                first = next((i for i, line in enumerate(body) if block.start in line), None)
                if first is None:
                    raise ReadmeError(f"{name}, line {block.begin + 1}: the output of {block.command!r} has no line "
                                      f"containing {block.start!r}")
                body = body[first:]
            lines[block.begin + 1:block.end] = ["```", *body, "```"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--readme", type=Path, default=REPO / "README.md", help="the file to update (default: README.md)")
    ap.add_argument("--only", action="append", default=[], metavar="TEXT",
                    help="only the blocks whose command contains TEXT (repeatable)")
    ap.add_argument("--list", action="store_true", help="print the blocks' commands and exit")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds one command may take (default 3600)")
    args = ap.parse_args(argv)
    try:
        text = args.readme.read_text(encoding="utf-8")
    except OSError as e:
        print(f"update_readme: cannot read {args.readme}: {e.strerror}", file=sys.stderr)
        return 2
    try:
        blocks = find_blocks(text.split("\n"), args.readme.name)
        commands = list(dict.fromkeys(b.command for b in blocks))
        if args.list:
            print("\n".join(commands))
            return 0
        chosen = [c for c in commands if not args.only or any(t in c for t in args.only)]
        if not chosen:
            raise ReadmeError(f"no output block in {args.readme} has a command containing {' or '.join(map(repr, args.only))}"
                              if args.only else f"{args.readme} has no output block")
        outputs = {}
        for i, command in enumerate(chosen, 1):
            print(f"[{i}/{len(chosen)}] {command}", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            outputs[command] = run_command(command, args.timeout)
            print(f"        done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        with atomic_write(args.readme) as f:
            f.write(regenerate(text, outputs, args.readme.name).encode("utf-8"))
    except ReadmeError as e:
        print(f"update_readme: {e}\n{args.readme} is unchanged.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"update_readme: interrupted; {args.readme} is unchanged.", file=sys.stderr)
        return 130
    print(f"{args.readme}: {len(chosen)} block command(s) regenerated", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
