"""A parser for the Java properties format (``java.util.Properties.load(Reader)`` rules).

Spark writes the driver's ``spark.properties`` with ``Properties.store``; sparkube writes its own.
Both must mean the same thing, so the parity suite compares parsed maps, not bytes.

The rules implemented here, from the ``Properties.load`` contract:

* Natural lines end with ``\\n``, ``\\r`` or ``\\r\\n``. A natural line whose end has an odd number
  of backslashes continues on the next one; the continuation's leading whitespace is dropped.
* A line whose first non-whitespace character is ``#`` or ``!`` is a comment (a comment never
  continues); blank lines are skipped. Whitespace is space, tab and form feed.
* The key runs to the first unescaped ``=``, ``:`` or whitespace; whitespace, at most one ``=`` or
  ``:`` and more whitespace separate it from the value, which runs to the end of the logical line.
* Escapes: ``\\t``, ``\\n``, ``\\r``, ``\\f``, ``\\uXXXX``; a backslash before any other
  character stands for that character.
"""

from __future__ import annotations

WHITESPACE = " \t\f"


class PropertiesError(ValueError):
    """The text is not valid in the Java properties format (a malformed ``\\u`` escape)."""


def _logical_lines(text: str) -> list[str]:
    """Join continued natural lines; drop comments and blank lines. Escapes stay escaped."""
    natural = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines: list[str] = []
    current: list[str] = []
    continuing = False
    for raw in natural:
        line = raw.lstrip(WHITESPACE)
        if not continuing and (not line or line[0] in "#!"):
            continue
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2 == 1:
            current.append(line[:-1])
            continuing = True
            continue
        current.append(line)
        lines.append("".join(current))
        current = []
        continuing = False
    if current:
        lines.append("".join(current))
    return lines


def _unescape(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= len(text):
            break  # a lone backslash at the very end stands for nothing
        nxt = text[i + 1]
        if nxt == "u":
            digits = text[i + 2 : i + 6]
            if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise PropertiesError(f"malformed \\uxxxx escape: {text[i : i + 6]!r}")
            out.append(chr(int(digits, 16)))
            i += 6
            continue
        out.append({"t": "\t", "n": "\n", "r": "\r", "f": "\f"}.get(nxt, nxt))
        i += 2
    return "".join(out)


def _split(line: str) -> tuple[str, str]:
    """Split one logical line into its (still escaped) key and value."""
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "\\":
            i += 2
            continue
        if ch in "=:" or ch in WHITESPACE:
            break
        i += 1
    key = line[:i]
    rest = line[i:].lstrip(WHITESPACE)
    if rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(WHITESPACE)
    return key, rest


def loads(text: str) -> dict[str, str]:
    """Parse properties text into an ordered dict; a later duplicate key wins, as in Java."""
    result: dict[str, str] = {}
    for line in _logical_lines(text):
        key, value = _split(line)
        result[_unescape(key)] = _unescape(value)
    return result


def dumps(props: dict[str, str]) -> str:
    """Write properties text that ``loads`` (and Java) read back as ``props``."""

    def escape(text: str, is_key: bool) -> str:
        out: list[str] = []
        for pos, ch in enumerate(text):
            if ch == "\\":
                out.append("\\\\")
            elif ch in "\t\n\r\f":
                out.append({"\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f"}[ch])
            elif ch in "=:#!":
                out.append("\\" + ch)
            elif ch == " " and (is_key or pos == 0):
                out.append("\\ ")
            elif ord(ch) < 0x20 or ord(ch) > 0x7E:
                out.append(f"\\u{ord(ch):04x}")
            else:
                out.append(ch)
        return "".join(out)

    return "".join(f"{escape(k, True)}={escape(v, False)}\n" for k, v in props.items())
