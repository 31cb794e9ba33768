"""What is wrong with a YAML file, in one line, for the config, the web config and the
catalog files alike: `line L, column C: not valid YAML: what`.

Never PyYAML's whole message: it quotes the line in error, which may hold a secret pasted
where a file name or a hash belongs, and a hostile file's line could fill the log. Only
PyYAML's own words (context and problem, or an exception's first line) are kept, clipped.
"""

from __future__ import annotations

MAX_WHAT = 160  # characters of PyYAML's words kept


def yaml_problem(exc: BaseException, whole: str = "(file)") -> str:
    """`exc` from loading YAML (not only YAMLError: a date such as 2024-13-45 raises
    ValueError, a lone surrogate UnicodeEncodeError, deep nesting RecursionError) as one
    line. `whole` names the place when PyYAML gives no line: the file, or "" where the
    caller has named it already."""
    if isinstance(exc, RecursionError):
        return _at(whole, "nested too deeply to read")
    parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
    what = ", ".join(str(part) for part in parts if part)
    if not what:
        what = str(exc).partition("\n")[0] or type(exc).__name__
    if len(what) > MAX_WHAT:
        what = what[: MAX_WHAT - 3] + "..."
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else whole
    return _at(where, f"not valid YAML: {what}")


def _at(where: str, what: str) -> str:
    return f"{where}: {what}" if where else what
