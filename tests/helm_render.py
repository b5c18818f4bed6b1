"""A renderer for the Go-template subset our Helm charts use (no helm binary here).

Supported: ``{{ .Values.a.b }}``, ``.Release.*``, ``.Chart.*``, ``{{ include "name" . }}`` with
``define`` blocks, ``.Files.Get "path"``, pipes into ``quote``, ``indent N``, ``nindent N``,
``toYaml``, ``if`` / ``else`` / ``end`` (a value, or ``eq A B``), and ``{{-`` / ``-}}`` trimming.
Anything else raises :class:`TemplateError`, so a chart that grows beyond this subset fails its
test instead of rendering wrongly. Every ``.Values`` path must exist (helm would print
``<no value>``; here it is an error).
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

ACTION = re.compile(r"{{(-?)\s*(.*?)\s*(-?)}}", re.S)


class TemplateError(ValueError):
    pass


def _trim(text: str) -> list[tuple[str, str]]:
    """Split into ("text", s) / ("action", s) tokens, applying {{- and -}} trimming."""
    out: list[tuple[str, str]] = []
    pos = 0
    trim_next = False
    for m in ACTION.finditer(text):
        chunk = text[pos : m.start()]
        if trim_next:
            chunk = chunk.lstrip()
        if m.group(1):
            chunk = chunk.rstrip()
        out.append(("text", chunk))
        out.append(("action", m.group(2)))
        trim_next = bool(m.group(3))
        pos = m.end()
    tail = text[pos:]
    out.append(("text", tail.lstrip() if trim_next else tail))
    return out


class Chart:
    def __init__(self, root: Path, values: dict | None = None, release: str = "haf") -> None:
        self.root = root
        meta = yaml.safe_load((root / "Chart.yaml").read_text())
        self.values = (
            values if values is not None else yaml.safe_load((root / "values.yaml").read_text())
        )
        self.ctx = {
            "Values": self.values,
            "Release": {"Name": release, "Namespace": "default"},
            "Chart": {"Name": meta["name"], "Version": meta["version"]},
        }
        self.defines: dict[str, list[tuple[str, str]]] = {}
        for tpl in sorted((root / "templates").glob("*.tpl")):
            self._collect_defines(_trim(tpl.read_text()))

    def _collect_defines(self, toks: list[tuple[str, str]]) -> None:
        i = 0
        while i < len(toks):
            kind, s = toks[i]
            if kind == "action" and s.startswith("define "):
                name = shlex.split(s)[1]
                depth, j = 1, i + 1
                while depth:
                    k2, s2 = toks[j]
                    if k2 == "action":
                        if s2.split()[0] in ("if", "define"):
                            depth += 1
                        elif s2 == "end":
                            depth -= 1
                    j += 1
                self.defines[name] = toks[i + 1 : j - 1]
                i = j
            else:
                i += 1

    # --- evaluation -------------------------------------------------------------------------
    def _path(self, expr: str) -> Any:
        if expr == ".":
            return self.ctx
        if not expr.startswith("."):
            raise TemplateError(f"unsupported expression {expr!r}")
        node: Any = self.ctx
        for part in expr[1:].split("."):
            if not isinstance(node, dict) or part not in node:
                raise TemplateError(f"{expr}: no value (missing {part!r})")
            node = node[part]
        return node

    def _term(self, words: list[str]) -> Any:
        head = words[0]
        if head.startswith('"'):
            return json.loads(head)
        if head.lstrip("-").isdigit():
            return int(head)
        if head == "include":
            name = json.loads(words[1])
            if name not in self.defines:
                raise TemplateError(f"include of undefined template {name!r}")
            return self._render(self.defines[name])
        if head == ".Files.Get":
            path = self.root / json.loads(words[1])
            if not path.is_file():
                raise TemplateError(f".Files.Get: {path} missing")
            return path.read_text()
        if head == "toYaml":
            return yaml.safe_dump(self._path(words[1]), default_flow_style=False).rstrip("\n")
        if head == "eq":
            return self._term(words[1:2]) == self._term(words[2:3])
        if len(words) == 1:
            return self._path(head)
        raise TemplateError(f"unsupported command {' '.join(words)!r}")

    def _eval(self, action: str) -> Any:
        stages = [shlex.split(p.strip(), posix=False) for p in action.split("|")]
        value = self._term(stages[0])
        for fn in stages[1:]:
            if fn[0] == "quote":
                value = json.dumps(str(value))
            elif fn[0] in ("indent", "nindent"):
                pad = " " * int(fn[1])
                value = "\n".join(pad + line if line else line for line in str(value).split("\n"))
                if fn[0] == "nindent":
                    value = "\n" + value
            else:
                raise TemplateError(f"unsupported function {fn[0]!r}")
        return value

    def _render(self, toks: list[tuple[str, str]]) -> str:
        out: list[str] = []
        stack: list[tuple[bool, bool]] = []  # (parent active, this branch active)
        active = True
        for kind, s in toks:
            if kind == "text":
                if active:
                    out.append(s)
                continue
            word = s.split()[0] if s else ""
            if word == "if":
                cond = bool(self._eval(s[2:].strip())) if active else False
                stack.append((active, cond))
                active = active and cond
            elif word == "else":
                parent, taken = stack[-1]
                active = parent and not taken
            elif word == "end":
                if not stack:
                    raise TemplateError("end without if")
                active = stack.pop()[0]
            elif word.startswith("/*"):
                continue
            elif active:
                value = self._eval(s)
                out.append("" if value is None else str(value))
        if stack:
            raise TemplateError("if without end")
        return "".join(out)

    def render(self) -> dict[str, str]:
        """Every template (not ``_*.tpl``) rendered: {file name: text}."""
        return {
            tpl.name: self._render(_trim(tpl.read_text()))
            for tpl in sorted((self.root / "templates").glob("*.yaml"))
        }

    def objects(self) -> list[dict]:
        docs = []
        for name, text in self.render().items():
            try:
                docs += [d for d in yaml.safe_load_all(text) if d]
            except yaml.YAMLError as exc:
                raise TemplateError(f"{name}: rendered YAML does not parse: {exc}") from None
        return docs


def values_paths(tree: Any, prefix: str = ".Values") -> set[str]:
    """Every path into values.yaml (leaves and inner nodes)."""
    out = {prefix}
    if isinstance(tree, dict):
        for k, v in tree.items():
            out |= values_paths(v, f"{prefix}.{k}")
    return out
