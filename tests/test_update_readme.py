"""``benchmarks/update_readme.py`` puts each block command's output into the README, and the
README's figures all sit in such blocks, so the benchmarks regenerate them (issue 12)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "update_readme.py"

PRINT_TWO = "python -c \"print('one'); print('two')\""
PRINT_SUMMARY = "python -c \"print('epoch 1'); print('summary of 1 run'); print('  0.5')\""


def update(readme: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--readme", str(readme), *args],
                          capture_output=True, text=True, timeout=120)


def test_blocks_get_the_output_and_the_rest_is_untouched(tmp_path):
    readme = tmp_path / "README.md"
    before = (f"# title\n\ntext before\n<!-- output of: {PRINT_TWO} -->\n```\nold figures\n```\n"
              "<!-- end of output -->\ntext after, with a trailing space \n")
    readme.write_text(before)
    readme.chmod(0o644)
    proc = update(readme)
    assert proc.returncode == 0, proc.stderr
    assert readme.read_text() == before.replace("old figures", "one\ntwo")
    umask = os.umask(0)
    os.umask(umask)
    assert readme.stat().st_mode & 0o777 == 0o666 & ~umask  # an ordinary file, not mkstemp's 0600
    assert update(readme).returncode == 0 and readme.read_text() == before.replace("old figures", "one\ntwo")


def test_a_block_can_show_the_output_from_a_line_on_and_shares_the_run(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f'<!-- output of: {PRINT_SUMMARY}, from "summary of" -->\n<!-- end of output -->\n'
                      f"between\n<!-- output of: {PRINT_SUMMARY} -->\n<!-- end of output -->\n")
    proc = update(readme)
    assert proc.returncode == 0, proc.stderr
    assert readme.read_text() == (f'<!-- output of: {PRINT_SUMMARY}, from "summary of" -->\n```\nsummary of 1 run\n'
                                  f"  0.5\n```\n<!-- end of output -->\nbetween\n<!-- output of: {PRINT_SUMMARY} -->\n"
                                  "```\nepoch 1\nsummary of 1 run\n  0.5\n```\n<!-- end of output -->\n")
    assert proc.stderr.count("[1/1]") == 1  # one run for both blocks


def test_only_runs_the_chosen_blocks(tmp_path):
    readme = tmp_path / "README.md"
    failing = 'python -c "raise SystemExit(3)"'
    text = (f"<!-- output of: {PRINT_TWO} -->\n<!-- end of output -->\n"
            f"<!-- output of: {failing} -->\nkept\n<!-- end of output -->\n")
    readme.write_text(text)
    assert update(readme, "--list").stdout.splitlines() == [PRINT_TWO, failing]
    proc = update(readme, "--only", "print(")
    assert proc.returncode == 0, proc.stderr
    assert readme.read_text() == text.replace("-->\n<!-- end", "-->\n```\none\ntwo\n```\n<!-- end", 1)


def test_a_failing_command_names_itself_and_writes_nothing(tmp_path):
    readme = tmp_path / "README.md"
    failing = "python -c \"import sys; sys.exit('no MNIST in /nowhere')\""
    text = f"<!-- output of: {PRINT_TWO} -->\nold\n<!-- end of output -->\n<!-- output of: {failing} -->\n<!-- end of output -->\n"
    readme.write_text(text)
    proc = update(readme)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "exited with status 1" in proc.stderr and "no MNIST in /nowhere" in proc.stderr and "unchanged" in proc.stderr
    assert readme.read_text() == text  # the first command's output was not written either


def test_broken_markers_and_missing_text_are_named(tmp_path):
    readme = tmp_path / "README.md"
    for text, message in [
        (f"a\n<!-- output of: {PRINT_TWO} -->\nnever closed\n", "line 2: the output block of"),
        ("<!-- end of output -->\n", "line 1: '<!-- end of output -->' without an opening"),
        (f"<!-- output of: {PRINT_TWO} -->\n<!-- output of: {PRINT_TWO} -->\n", "line 2: a new output block starts"),
        (f'<!-- output of: {PRINT_TWO}, from "absent" -->\n<!-- end of output -->\n', "no line containing 'absent'"),
        ("no blocks here\n", "has no output block"),
    ]:
        readme.write_text(text)
        proc = update(readme)
        assert proc.returncode == 2 and message in proc.stderr, (text, proc.stderr)
        assert readme.read_text() == text
    proc = update(tmp_path / "missing.md")
    assert proc.returncode == 2 and "cannot read" in proc.stderr and "missing.md" in proc.stderr


def test_the_readme_figures_come_from_benchmark_blocks():
    """Every benchmark figure block of README.md names a benchmark script that exists, with
    options that script accepts, and the speed sections quote their figures from blocks."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import update_readme
    finally:
        sys.path.remove(str(SCRIPT.parent))
    text = (REPO / "README.md").read_text()
    blocks = update_readme.find_blocks(text.split("\n"))
    scripts = {shlex.split(b.command)[1] for b in blocks}
    assert {"benchmarks/bench_mnist.py", "benchmarks/bench_adam.py", "benchmarks/bench_scalar.py",
            "benchmarks/bench_train.py"} <= scripts
    for command in {b.command for b in blocks}:
        argv = shlex.split(command)
        assert argv[0] == "python" and (REPO / argv[1]).is_file(), command
        options = set(re.findall(r"--[a-z-]+", (REPO / argv[1]).read_text()))
        assert {a for a in argv[2:] if a.startswith("--")} <= options, command
    lines = text.split("\n")
    for b in blocks:  # each block holds one fenced output, as the script writes it
        body = lines[b.begin + 1:b.end]
        assert body[0] == "```" and body[-1] == "```" and len(body) > 2, b.command
