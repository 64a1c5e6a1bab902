"""Reading a Dockerfile and a .dockerignore the way Docker does, for the tests: enough of
the syntax for ours (continuations, comments, global ARG defaults, stages)."""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str

    def exec_form(self) -> list[str]:
        value = json.loads(self.args)
        assert isinstance(value, list), f"{self.keyword} must use the JSON (exec) form"
        return [str(v) for v in value]


@dataclass
class Stage:
    image: str
    name: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def instructions(text: str) -> list[Instruction]:
    joined = re.sub(r"\\\n", " ", "\n".join(
        line for line in text.splitlines() if not line.lstrip().startswith("#")))
    out = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            out.append(Instruction(keyword.upper(), " ".join(args.split())))
    return out


def stages(text: str) -> list[Stage]:
    """The build stages, FROM images with the global ARG defaults substituted."""
    defaults: dict[str, str] = {}
    found: list[Stage] = []
    for ins in instructions(text):
        if ins.keyword == "ARG" and not found:
            name, _, value = ins.args.partition("=")
            defaults[name] = value.strip('"')
        elif ins.keyword == "FROM":
            parts = ins.args.split()
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)",
                           lambda m: defaults[m.group(1) or m.group(2)], parts[0])
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else ""
            found.append(Stage(image, name))
        elif found:
            found[-1].instructions.append(ins)
    return found


def ignored(dockerignore: Path, path: str) -> bool:
    """Whether the build context leaves `path` out: the last matching rule wins, a rule
    that matches a folder matches everything in it, `!` brings a path back."""
    verdict = False
    for raw in dockerignore.read_text().splitlines():
        rule = raw.strip()
        if not rule or rule.startswith("#"):
            continue
        keep = rule.startswith("!")
        pattern = rule.lstrip("!").strip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
        if any(fnmatch.fnmatchcase(p, pattern) or
               (pattern.startswith("**/") and fnmatch.fnmatchcase(p, pattern[3:]))
               for p in prefixes):
            verdict = not keep
    return verdict
