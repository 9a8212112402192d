"""Every error code the gateway can send is in the README's error table (issue 22, item 2).

The codes are collected from the source with ``ast``, so a new one cannot slip
past: every string constant given as ``code=`` to anything, assigned to a
variable named ``code``, or passed in the ``code`` position (or left to the
``code`` default) of a function that takes a ``code`` parameter, such as the
helpers in gateway/errors.py. A code built at run time (an f-string) is refused:
the table could not be checked against it.

The README may hold more than one error table (a door with its own dialect may
document its errors in its own section): ``TABLES`` maps a source folder to the
README heading whose table must list the codes sent from there; everything else
belongs to the main table under "### Errors".
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAIN_TABLE = "### Errors"
# Source folder (relative to the repository) -> the README heading of its own table.
TABLES: dict[str, str] = {}


@dataclass(frozen=True)
class Sent:
    code: str
    where: str  # file:line

    @property
    def table(self) -> str:
        for folder, heading in TABLES.items():
            if self.where.startswith(folder):
                return heading
        return MAIN_TABLE


def _strings(node: ast.AST, where: str) -> list[str]:
    """The string constants ``node`` can evaluate to (through ``a if c else b``)."""
    if isinstance(node, ast.Constant):
        return [node.value] if isinstance(node.value, str) else []
    if isinstance(node, ast.IfExp):
        return _strings(node.body, where) + _strings(node.orelse, where)
    if isinstance(node, ast.JoinedStr):
        raise AssertionError(
            f"{where}: an error code built at run time (an f-string); write each code "
            "as a string literal so the README table can be checked against it"
        )
    return []  # a name or call: the literal is found where it was written


def _code_parameters(package: Path) -> dict[str, tuple[int, str | None]]:
    """Functions taking ``code``: name -> (its position, its string default or None)."""
    found: dict[str, tuple[int, str | None]] = {}
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            positional = [*node.args.posonlyargs, *node.args.args]
            names = [arg.arg for arg in positional]
            if "code" not in names:
                continue
            index = names.index("code")
            defaults = node.args.defaults
            first_default = len(positional) - len(defaults)
            default = None
            if index >= first_default:
                value = defaults[index - first_default]
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    default = value.value
            offset = 1 if names and names[0] in ("self", "cls") else 0
            found[node.name] = (index - offset, default)
    return found


def sent_codes(root: Path = ROOT) -> list[Sent]:
    """Every code literal the package under ``root`` can send, with where it is written."""
    package = root / "gateway"
    helpers = _code_parameters(package)
    sent: list[Sent] = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(root)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            where = f"{relative}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == "code" for target in node.targets
            ):
                sent += [Sent(code, where) for code in _strings(node.value, where)]
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                if keyword.arg == "code":
                    sent += [Sent(code, where) for code in _strings(keyword.value, where)]
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name not in helpers:
                continue
            index, default = helpers[name]
            if len(node.args) > index:
                sent += [Sent(code, where) for code in _strings(node.args[index], where)]
            elif default and not any(keyword.arg == "code" for keyword in node.keywords):
                sent.append(Sent(default, where))  # the helper's default code goes out
    return sent


def documented(readme: str, heading: str) -> set[str]:
    """The codes in the ``code`` column of the first table under ``heading``."""
    lines = readme.splitlines()
    assert heading in lines, f"README.md has no section '{heading}'"
    rows = []
    for line in lines[lines.index(heading) + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            break  # the first table has ended
    assert rows, f"README.md: no table under '{heading}'"
    header = [cell.strip("`").lower() for cell in rows[0]]
    assert "code" in header, f"README.md: the table under '{heading}' has no 'code' column"
    column = header.index("code")
    return {code for row in rows[2:] for code in re.findall(r"`([^`]+)`", row[column])}


def test_every_code_the_gateway_sends_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    sent = sent_codes()
    assert {s.code for s in sent} >= {"not_found", "invalid_api_key", "request_too_large"}
    tables = {heading: documented(readme, heading) for heading in {MAIN_TABLE, *TABLES.values()}}
    missing = sorted(
        {(s.table, s.code): s for s in sent if s.code not in tables[s.table]}.values(),
        key=lambda s: (s.table, s.code),
    )
    assert not missing, "error codes the gateway sends that README.md does not list:\n" + "\n".join(
        f"  code '{s.code}' (sent at {s.where}) is missing from the table under '{s.table}'"
        for s in missing
    )


def test_the_scan_sees_a_code_in_each_way_it_can_be_written(tmp_path: Path) -> None:
    """The collector itself: keyword, assignment, helper position and helper default."""
    (tmp_path / "gateway").mkdir()
    door = tmp_path / "gateway" / "door.py"
    door.write_text(
        """
def helper(message, code="helper_default"):
    pass
def send(flag):
    raise Error(404, "x", code="by_keyword")
    code = "by_assignment" if flag else "by_other_branch"
    helper("y", "by_position")
    helper("z")
    helper("z", code=None)
"""
    )
    assert {s.code for s in sent_codes(tmp_path)} == {
        "helper_default",
        "by_keyword",
        "by_assignment",
        "by_other_branch",
        "by_position",
    }
    door.write_text('def send(status):\n    raise Error(409, "x", code=f"human_{status}")\n')
    with pytest.raises(AssertionError, match=r"gateway/door.py:2: an error code built at run"):
        sent_codes(tmp_path)
