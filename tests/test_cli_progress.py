"""What ``numnet train`` shows on a terminal: a bar redrawn in place, then one line per epoch.

``numnet train`` runs in a child process whose stdin, stdout and stderr are a pseudo-terminal, on
the tiny data set (the child swaps in the same loader the ``tiny_data`` fixture does). A small
terminal model replays the bytes it wrote: every frame the bar drew, and the screen at the end.
"""

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from _cli_testlib import train_argv, write_tiny_idx

from numnet.run_files import read_metrics

TESTS = Path(__file__).resolve().parent
CHILD = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
import _cli_testlib
import numnet.cli.dataload
numnet.cli.dataload.load_dataset = _cli_testlib.load_tiny_dataset
_cli_testlib.pin_auto_threads()
from numnet.cli.main import main
sys.exit(main(sys.argv[1:]))
"""
COLUMNS = 120
EPOCH_LINE = re.compile(
    r"^epoch (\d)/2  loss \d\.\d{4}  train \d+\.\d\d%  val \d+\.\d\d%  lr \d\.\d\de-\d\d  "
    r"\d+\.\ds$"
)
BAR = re.compile(r"^epoch (\d)/2: +\d+%\|.*\| (\d)/6 \[.*\]")


def run_on_a_terminal(argv, cwd, timeout=120):
    """Run the command with a pseudo-terminal as its terminal; return (exit code, bytes shown)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, COLUMNS, 0, 0))
    root = TESTS.parent
    # Redraw on every step: the tiny epochs are faster than tqdm's default 0.1 s between frames.
    env = {**os.environ, "PYTHONPATH": str(root), "TQDM_MININTERVAL": "0", "COLUMNS": ""}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, *map(str, argv)], stdin=slave,
                            stdout=slave, stderr=slave, env=env, cwd=cwd)  # fmt: skip
    os.close(slave)
    out, deadline = bytearray(), time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not select.select([master], [], [], 1.0)[0]:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every holder of the terminal has closed it
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return proc.wait(timeout=10), bytes(out)


class Terminal:
    r"""A line-oriented terminal: text overwrites at the cursor, ``\r``, ``\n``, CSI A and K.

    ``frames`` records (row, text) of the cursor's line each time a carriage return ends a
    drawing of it.
    """

    CSI = re.compile(r"\x1b\[(\d*)([A-Za-z])")

    def __init__(self):
        self.lines, self.row, self.col, self.frames = [""], 0, 0, []

    def feed(self, text):
        i = 0
        while i < len(text):
            m = self.CSI.match(text, i)
            if m:
                n = int(m.group(1) or 1)
                if m.group(2) == "A":
                    self.row = max(0, self.row - n)
                elif m.group(2) == "K":
                    self.lines[self.row] = self.lines[self.row][: self.col]
                i = m.end()
                continue
            ch = text[i]
            if ch == "\r":
                self.frames.append((self.row, self.lines[self.row].rstrip()))
                self.col = 0
            elif ch == "\n":
                self.row += 1
                if self.row == len(self.lines):
                    self.lines.append("")
            else:
                line = self.lines[self.row].ljust(self.col)
                self.lines[self.row] = line[: self.col] + ch + line[self.col + 1 :]
                self.col += 1
            i += 1

    @property
    def screen(self):
        return [ln.rstrip() for ln in self.lines]


def test_train_on_a_terminal_draws_a_bar_in_place_then_epoch_lines(tmp_path):
    data = tmp_path / "data"
    write_tiny_idx(data)
    code, shown = run_on_a_terminal(train_argv(data, tmp_path / "run", "--epochs", "2"), tmp_path)
    text = shown.decode("utf-8", "replace")
    assert code == 0, text
    term = Terminal()
    term.feed(text)

    # What stays on the screen: the header, one line per check, the result; no bar left over.
    screen = [ln for ln in term.screen if ln]
    assert screen[0].startswith("training ConvNet")
    epoch_lines = [ln for ln in screen if ln.startswith("epoch ")]
    assert [EPOCH_LINE.match(ln).group(1) for ln in epoch_lines] == ["0", "1", "2"], screen
    end = next(k for k, ln in enumerate(screen) if ln.startswith("diagnosis of "))  # then its lines
    assert screen[end - 2].startswith("test accuracy ") and screen[end - 1].startswith("run saved")
    assert not [ln for ln in screen if BAR.match(ln)], screen

    # While it ran: epoch 2's bar was redrawn on one row, step by step, with loss and lr shown,
    # and that row now holds epoch 2's line (the bar was cleared, not scrolled away).
    bars = [(row, BAR.match(t)) for row, t in term.frames if BAR.match(t)]
    epoch2 = [(row, int(m.group(2))) for row, m in bars if m.group(1) == "2"]
    assert [n for _, n in epoch2] == list(range(7)), bars
    rows = {row for row, _ in epoch2}
    assert len(rows) == 1
    assert EPOCH_LINE.match(term.screen[rows.pop()]).group(1) == "2"
    assert {m.group(1) for _, m in bars} == {"1", "2"}
    # Each frame shows the loss and learning rate of the step it counts.
    steps = read_metrics(tmp_path / "run" / "iterations.csv")
    for _, m in bars:
        if int(m.group(2)) > 0:
            row = steps[6 * (int(m.group(1)) - 1) + int(m.group(2)) - 1]
            assert m.group(0).endswith(f"loss={row['loss']:.4f}, lr={row['lr']:.2e}]"), m.group(0)
