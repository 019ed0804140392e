"""Library code speaks in data: no message outside cli/ names a command-line flag (errors.py's `<param>`
placeholders are rendered by the CLI)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "qwentts_cli"
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]+")
# pip's own flag, in the install hint of the official package.
ALLOWED = {"--no-deps"}


def message_strings(tree: ast.AST):
    """String constants that are not docstrings (messages, f-string parts)."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def test_library_messages_name_no_cli_flag():
    found = []
    for path in SRC.rglob("*.py"):
        relative = path.relative_to(SRC)
        if relative.parts[0] == "cli" or relative == Path("bench/report.py"):  # the CLI's own words
            continue
        for line, text in message_strings(ast.parse(path.read_text(encoding="utf-8"))):
            flags = set(FLAG.findall(text)) - ALLOWED
            if flags:
                found.append(f"{relative}:{line}: {sorted(flags)}")
    assert found == []


def test_the_check_finds_a_flag(tmp_path):
    tree = ast.parse('def f():\n    """Docs may say --model."""\n    raise ValueError("pass --model DIR")\n')
    assert [FLAG.findall(text) for _, text in message_strings(tree)] == [["--model"]]
