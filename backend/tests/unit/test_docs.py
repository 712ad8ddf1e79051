"""The docs say what the code does: every error code is documented, the package map lists
files that exist, and no doc sends a reader to a folder outside the repository."""

import re
from pathlib import Path

import pytest

from app.api.errors import HTTP_ERROR_CODES
from app.core.errors import AppError

REPO_ROOT = Path(__file__).resolve().parents[3]
APP = REPO_ROOT / "backend" / "src" / "app"
DOCS = sorted([REPO_ROOT / "README.md", *(REPO_ROOT / "docs").glob("*.md")])


def _subclasses(cls: type[AppError]) -> list[type[AppError]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def _import_every_module() -> None:
    """Error classes live all over the package: import it all so each one is seen."""
    import importlib
    import pkgutil

    import app

    for module in pkgutil.walk_packages(app.__path__, "app."):
        importlib.import_module(module.name)


def test_every_error_code_the_api_can_answer_is_documented() -> None:
    _import_every_module()
    api_doc = (REPO_ROOT / "docs" / "api.md").read_text()
    codes = {cls.code for cls in _subclasses(AppError)} | set(HTTP_ERROR_CODES.values())

    missing = sorted(code for code in codes if f"`{code}`" not in api_doc)

    assert missing == []


def test_the_package_map_lists_only_files_that_exist() -> None:
    text = (REPO_ROOT / "docs" / "architecture.md").read_text()
    block = text[text.index("backend/src/app/\n") : text.index("backend/migrations/")]
    folder, missing = "", []
    for line in block.splitlines()[1:]:
        nested = re.match(r"^    (\S+\.py)\b", line)
        top = re.match(r"^  (\S+)", line)
        if nested:
            names = [folder + nested.group(1)]
        elif top:
            first = top.group(1)
            folder = first if first.endswith("/") else ""
            names = [n for n in line.split()[:2] if n.endswith(".py")]
            # "api/views.py schemas.py": the second name shares the first one's folder.
            if len(names) == 2 and "/" in names[0] and "/" not in names[1]:
                names[1] = names[0].rsplit("/", 1)[0] + "/" + names[1]
            names = names or [first]
        else:
            continue
        missing += [n for n in names if not list(APP.glob(n.rstrip("/")))]

    assert missing == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_no_doc_points_outside_the_repository(doc: Path) -> None:
    # The team's reference material lives beside the repository, not in it: a reader of a
    # clone has none of it. (``../.env`` from ``backend/`` is the repository's own root.)
    outside = re.findall(r"(?:\.\./)+shared/[\w./-]*|/work/[\w./-]*", doc.read_text())

    assert outside == []
