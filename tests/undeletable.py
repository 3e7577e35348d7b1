"""Folders this process really cannot delete, for the tests of deletions that fail.

Root ignores file modes, so as root a folder is made immutable (``chattr +i``: nothing in it
can be added, removed or renamed, and it cannot be moved); as another user it is made
read-only (mode 0555: its entries cannot be removed, and it cannot be moved to another
folder, which would rewrite its ``..``). The test is skipped where neither works (a file
system without the attribute). Whatever happens, everything under the given root is made
deletable again at the end (wherever the bot moved the folders meanwhile), so the test's
temporary folder can be cleaned up.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


class Undeletable:
    """Locks folders for the length of a ``with`` block (see :func:`undeletable`)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def lock(self, folder: Path) -> None:
        """Make ``folder`` (and so everything in it) impossible to delete or move."""
        if os.geteuid() != 0:
            folder.chmod(0o555)
            return
        chattr = shutil.which("chattr")
        if chattr is None:
            pytest.skip("chattr is needed to make a folder undeletable for root")
        done = subprocess.run([chattr, "+i", str(folder)], capture_output=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"chattr +i does not work here: {done.stderr.decode().strip()}")
        probe = folder / ".probe"
        try:
            probe.touch()
        except PermissionError:
            return
        probe.unlink()
        pytest.skip("an immutable folder still takes new files on this file system")

    def unlock_all(self) -> None:
        """Everything under the root deletable again."""
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-R", "-i", str(self.root)], capture_output=True, check=False)
            return
        for folder, _, _ in os.walk(self.root):
            with contextlib.suppress(OSError):
                os.chmod(folder, 0o700)


@contextlib.contextmanager
def undeletable(root: Path) -> Iterator[Undeletable]:
    """Folders under ``root`` to lock; all unlocked at the end, wherever they are then."""
    locks = Undeletable(root)
    try:
        yield locks
    finally:
        locks.unlock_all()
