"""The package faces hold: only ``sessions`` knows the session folder, only the composition
root knows which SessionManager implementation runs, and the packages form layers.

The layers, bottom up (a package may import only its own modules and those of the layers
below it; packages on the same layer never import each other, so there is no cycle):

    runtime  <-  sessions  <-  library  <-  transcription | processing | notes  <-  bot

``bot`` is the composition root: it builds every part and wires them together.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONSUMERS = ("bot", "transcription", "processing", "notes")
LAYERS = {
    "runtime": 0,
    "sessions": 1,
    "library": 2,
    "transcription": 3,
    "processing": 3,
    "notes": 3,
    "bot": 4,
}
# What every package's docstring must say, so a newcomer finds the rule where the code is.
DOCSTRING_SAYS = ("May import",)
MAX_LINES = 400


def sources(packages: tuple[str, ...] = CONSUMERS) -> dict[str, str]:
    return {
        str(path.relative_to(REPO)): path.read_text(encoding="utf-8")
        for package in packages
        for path in sorted((REPO / package).rglob("*.py"))
    }


def imported_packages(text: str) -> set[str]:
    """The top-level packages of this project a module imports, wherever the import is
    (lazy imports in functions and TYPE_CHECKING blocks count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & LAYERS.keys()


def upward_imports(files: dict[str, str]) -> dict[str, list[str]]:
    """For each module that breaks the layers, the packages it must not import."""
    wrong: dict[str, list[str]] = {}
    for name, text in files.items():
        own = name.split("/")[0]
        bad = [
            other
            for other in sorted(imported_packages(text))
            if other != own and LAYERS[other] >= LAYERS[own]
        ]
        if bad:
            wrong[name] = bad
    return wrong


def test_no_consumer_reaches_into_the_session_folders_owner() -> None:
    inside = re.compile(r"sessions\.(layout|storage|atomic|folder|process_files|manager\w*)\b")
    found = {name: inside.findall(text) for name, text in sources().items()}
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_only_the_composition_root_builds_the_file_session_manager() -> None:
    users = {name for name, text in sources().items() if "FileSessionManager" in text}
    assert users == {"bot/app.py"}


def test_every_package_imports_only_its_own_layer_and_those_below() -> None:
    assert upward_imports(sources(tuple(LAYERS))) == {}


def test_the_layer_check_sees_an_upward_import() -> None:
    """The rule above can fail: an upward import, even a lazy one, is found."""
    files = {
        "sessions/x.py": "def f():\n    from library import SessionLibrary\n",
        "notes/y.py": "import processing.service\nfrom sessions import Session\n",
        "runtime/z.py": "from sessions.models import Session\n",
        "library/ok.py": "from sessions import Session\nfrom runtime.settings import S\n",
    }
    assert upward_imports(files) == {
        "sessions/x.py": ["library"],
        "notes/y.py": ["processing"],
        "runtime/z.py": ["sessions"],
    }


def test_every_package_says_what_it_owns_and_may_import() -> None:
    for package in LAYERS:
        doc = ast.get_docstring(ast.parse((REPO / package / "__init__.py").read_text()))
        assert doc is not None, package
        missing = [phrase for phrase in DOCSTRING_SAYS if phrase not in doc]
        assert missing == [], package


def test_every_production_module_is_under_the_size_limit() -> None:
    long = {
        name: lines
        for name, text in sources(tuple(LAYERS)).items()
        if (lines := len(text.splitlines())) >= MAX_LINES
    }
    assert long == {}
