"""The Java properties parser, against the format's rules and against Java itself."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest

from . import javaprops

if TYPE_CHECKING:
    from pathlib import Path

CASES: list[tuple[str, dict[str, str]]] = [
    ("a=b\n", {"a": "b"}),
    ("a = b\n", {"a": "b"}),
    ("a:b", {"a": "b"}),
    ("a b", {"a": "b"}),
    ("  a\t=\t b c ", {"a": "b c "}),
    ("a=", {"a": ""}),
    ("a", {"a": ""}),
    ("# comment\n! also\n\n   \na=1", {"a": "1"}),
    ("a=1\r\nb=2\rc=3\n", {"a": "1", "b": "2", "c": "3"}),
    # escapes in keys and values
    ("k\\:x=v", {"k:x": "v"}),
    ("k\\ x=v", {"k x": "v"}),
    ("k=\\:\\=\\#\\!", {"k": ":=#!"}),
    ("url=k8s\\://http\\://127.0.0.1\\:6443", {"url": "k8s://http://127.0.0.1:6443"}),
    ("t=a\\tb\\nc\\rd\\fe", {"t": "a\tb\nc\rd\fe"}),
    ("u=\\u00fcn\\u00EFc", {"u": "ünïc"}),
    ("x=\\q\\\\", {"x": "q\\"}),
    # continuation lines: leading whitespace of the next line is dropped
    ("a=hello \\\n    world", {"a": "hello world"}),
    ("a=1\\\n  2\\\n  3\nb=4", {"a": "123", "b": "4"}),
    ("a=b\\\\\nc=d", {"a": "b\\", "c": "d"}),
    ("a=b\\\n# not a comment", {"a": "b# not a comment"}),
    ("a=b\\\n\nc=d", {"a": "b", "c": "d"}),
    # a comment never continues
    ("# comment \\\na=1", {"a": "1"}),
    # a later duplicate wins
    ("a=1\na=2", {"a": "2"}),
    ("=v", {"": "v"}),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_loads(text: str, expected: dict[str, str]) -> None:
    assert javaprops.loads(text) == expected


def test_malformed_unicode_escape_is_an_error() -> None:
    with pytest.raises(javaprops.PropertiesError, match="malformed"):
        javaprops.loads("a=\\u12x4")


@pytest.mark.parametrize(
    "props",
    [
        {"spark.master": "k8s://https://10.0.0.1:443", "spark.app.name": "ETL_job.v2 (daily)"},
        {" lead": " space", "tab\tkey": "a\tb", "new\nline": "x\ny", "#hash": "!bang"},
        {"unicode": "ünïcødé ✓", "empty": "", "back\\slash": "C:\\dir\\"},
    ],
)
def test_dumps_round_trips(props: dict[str, str]) -> None:
    assert javaprops.loads(javaprops.dumps(props)) == props


JAVA_READER = """
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.util.*;

public class ReadProps {
    public static void main(String[] args) throws Exception {
        for (String path : args) {
            Properties p = new Properties();
            try (Reader r = new InputStreamReader(new FileInputStream(path), StandardCharsets.UTF_8)) {
                p.load(r);
            }
            System.out.println(json(p));
        }
    }

    static String json(Properties p) {
        StringBuilder out = new StringBuilder("{");
        boolean first = true;
        for (String k : new TreeSet<>(p.stringPropertyNames())) {
            if (!first) out.append(",");
            first = false;
            out.append(quote(k)).append(":").append(quote(p.getProperty(k)));
        }
        return out.append("}").toString();
    }

    static String quote(String s) {
        StringBuilder b = new StringBuilder("\\"");
        for (char c : s.toCharArray()) b.append(String.format("\\\\u%04x", (int) c));
        return b.append("\\"").toString();
    }
}
"""


def test_loads_agrees_with_java(tmp_path: Path) -> None:
    """Every table input, read by ``java.util.Properties.load`` itself (one JVM for all)."""
    source = tmp_path / "ReadProps.java"
    source.write_text(JAVA_READER)
    files = []
    for i, (text, _) in enumerate(CASES):
        data = tmp_path / f"{i}.properties"
        data.write_text(text, encoding="utf-8")
        files.append(str(data))
    java = shutil.which("java") or "java"
    proc = subprocess.run(
        [java, str(source), *files], capture_output=True, text=True, timeout=120, check=True
    )
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(results) == len(CASES)
    for (text, expected), from_java in zip(CASES, results, strict=True):
        assert from_java == expected, f"Java reads {text!r} otherwise"
        assert javaprops.loads(text) == from_java, text
