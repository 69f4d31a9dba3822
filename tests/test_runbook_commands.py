"""Every `invoke ...` command written in runbooks/, README.md and docs/ names real tasks and flags.

The commands are parsed with Invoke's own parser, built exactly as the `invoke` binary builds it
(its core flags, then our namespace's task contexts), so a renamed task or a misspelt flag in a
runbook fails here instead of at 3 a.m.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from invoke import Program
from invoke.parser import ParseError, Parser

from oncall.durations import parse_count, parse_duration
from oncall.errors import BadInput
from oncall.tasks import ns

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted([*REPO.glob("runbooks/*.md"), REPO / "README.md", *REPO.glob("docs/*.md")], key=str)

_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE = re.compile(r"`(invoke [^`]+)`")
_PROMPT = re.compile(r"^\s*\$\s")
# Tokens after which a word is in command position: start, shell operators, prompts, YAML keys.
_SEPARATORS = {"&&", "||", ";", "|", "$", "-", "then", "do", "exec", "time"}
_REDIRECT = re.compile(r"^\d*[<>&|;()]+\S*$")
_ELLIPSIS = {"...", "…"}
_ALTERNATIVES = re.compile(r"^(--[\w-]+)(/--[\w-]+)+$")


def _blocks(text: str) -> list[list[tuple[int, str]]]:
    """Code blocks (fenced, or runs of indented lines) as lists of (line number, text)."""
    blocks: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] | None = None
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            if fenced:
                blocks.append(current or [])
                current = None
            else:
                if current:
                    blocks.append(current)
                current = []
            fenced = not fenced
            continue
        if fenced or line.startswith(("    ", "\t")):
            current = [] if current is None else current
            current.append((number, line))
        elif current is not None and not fenced:
            blocks.append(current)
            current = None
    if current:
        blocks.append(current)
    return blocks


def _code_lines(text: str, *, inline: bool) -> list[tuple[int, str]]:
    """The lines to read commands from: in a block with `$ ` prompts only the prompt lines (the rest
    is output), else every line of the block; with `inline`, also `invoke ...` code spans in prose."""
    found: list[tuple[int, str]] = []
    for block in _blocks(text):
        prompts = [(n, line) for n, line in block if _PROMPT.match(line)]
        found.extend(prompts or block)
    if inline:
        in_blocks = {n for block in _blocks(text) for n, _ in block}
        for number, line in enumerate(text.splitlines(), start=1):
            if number not in in_blocks:
                found.extend((number, span) for span in _INLINE.findall(line))
    return sorted(found)


def _in_command_position(tokens: list[str], index: int) -> bool:
    if index == 0:
        return True
    before = tokens[index - 1]
    return (
        before in _SEPARATORS
        or before.endswith(":")
        or bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S*", before))
    )


def _variants(argv: list[str]) -> list[list[str]]:
    """`--wait/--no-wait` in a synopsis stands for either flag: one argv per alternative."""
    for index, word in enumerate(argv):
        if _ALTERNATIVES.match(word):
            return [
                variant
                for flag in word.split("/")
                for variant in _variants([*argv[:index], flag, *argv[index + 1 :]])
            ]
    return [argv]


def extract_commands(text: str, *, inline: bool = True) -> list[tuple[int, list[str]]]:
    """Every `invoke` command in Markdown text as (line number, argv after `invoke`).

    Synopsis notation is read as what it stands for: optional brackets (`[--json]`) as the flag,
    `...` (repeatable) dropped, `--wait/--no-wait` as each alternative. A trailing `# comment`, a
    pipe, `&&`, `;` or a redirection ends the command. A line where a word after `invoke` ends in
    a comma is prose that happens to start with the word (a benchmark's figure name), not a command.
    """
    commands = []
    for number, line in _code_lines(text, inline=inline):
        try:
            lexer = shlex.shlex(
                line.replace("[", " ").replace("]", " "), posix=True, punctuation_chars=";&|<>()"
            )
            lexer.whitespace_split = True
            lexer.commenters = "#"
            tokens = list(lexer)
        except ValueError:
            continue  # an unbalanced quote in prose or output: not a command we can judge
        for index, token in enumerate(tokens):
            if (token == "invoke" or token.endswith("/invoke")) and _in_command_position(tokens, index):
                argv = []
                for word in tokens[index + 1 :]:
                    if _REDIRECT.match(word) or word in _SEPARATORS - {"-"}:
                        break
                    argv.append(word)
                # `2>&1`: the shell lexer leaves the descriptor number as a word of its own.
                if argv and argv[-1].isdigit() and index + 1 + len(argv) < len(tokens):
                    argv.pop()
                if any(word.endswith(",") for word in argv):
                    continue
                argv = [word for word in argv if word not in _ELLIPSIS]
                commands.extend((number, variant) for variant in _variants(argv))
    return commands


_PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*$")


def parse_like_invoke(argv: list[str]) -> None:
    """Parse argv as `invoke` does (core flags, then tasks and their flags); ParseError if wrong.

    A synopsis placeholder after a flag (`--timeout SECONDS`) stands for a value of the flag's type,
    so it is replaced by one that every type accepts.
    """
    values = [
        "1" if _PLACEHOLDER.match(word) and index and argv[index - 1].startswith("-") else word
        for index, word in enumerate(argv)
    ]
    program = Program()
    parser = Parser(initial=program.initial_context, contexts=ns.to_contexts(ignore_unknown_help=False))
    _check_values(parser.parse_argv(values)[1:])


# Duration and count flags are text to Invoke (so that `5m` passes its parser); the tasks read them
# with oncall.durations, and so does this check, so `--last ten` in a runbook is still caught.
DURATION_FLAGS = ("wait", "wait_timeout", "timeout", "interval", "total_timeout", "lock_wait", "since")
COUNT_FLAGS = ("last", "consecutive", "concurrency")


def _check_values(contexts: list[Any]) -> None:
    for context in contexts:
        for name, arg in context.args.items():
            if not isinstance(arg.value, str):
                continue  # a bool flag (restart --wait) or one without a value (None)
            try:
                if name in DURATION_FLAGS:
                    parse_duration(arg.value, f"--{name}")
                elif name in COUNT_FLAGS:
                    parse_count(arg.value, f"--{name}")
            except BadInput as exc:
                raise ValueError(exc.cause) from None


def _all_commands() -> list[tuple[str, list[str]]]:
    found = []
    for path in SOURCES:
        if path.exists():
            # Inline code in docs/ is prose quoting messages and hints; runbooks and README are
            # read whole, because people copy commands from their sentences too.
            inline = path.parent.name != "docs"
            for number, argv in extract_commands(path.read_text(encoding="utf-8"), inline=inline):
                found.append((f"{path.relative_to(REPO)}:{number}", argv))
    return found


COMMANDS = _all_commands()


def test_the_runbooks_contain_commands() -> None:
    """Each runbook maps symptoms to at least one invoke command (so the scan is not vacuous)."""
    runbooks = sorted(REPO.glob("runbooks/*.md"))
    assert runbooks, "runbooks/ has no Markdown runbooks"
    for path in runbooks:
        assert extract_commands(path.read_text(encoding="utf-8")), f"{path.name} has no invoke command"


@pytest.mark.parametrize(("where", "argv"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_documented_command_parses(where: str, argv: list[str]) -> None:
    """A documented invoke command names existing tasks with flags those tasks accept."""
    try:
        parse_like_invoke(argv)
    except (ParseError, ValueError) as exc:
        pytest.fail(f"{where}: `invoke {' '.join(argv)}` does not parse: {exc}")


@pytest.mark.parametrize(
    "argv",
    [
        ["no-such-task"],
        ["health", "--no-such-flag"],
        ["health", "--json", "recover", "--bogus"],
        ["runs", "--last"],
        ["runs", "--last", "ten"],
        ["health", "--json", "EXTRA"],
    ],
    ids=[
        "an unknown task",
        "an unknown flag",
        "a bad flag later in a chain",
        "a flag missing its value",
        "a number flag given a word",
        "a stray placeholder",
    ],
)
def test_the_check_rejects_what_invoke_rejects(argv: list[str]) -> None:
    """The parser check is not a rubber stamp: what `invoke` would refuse, it refuses too."""
    with pytest.raises((ParseError, ValueError)):
        parse_like_invoke(argv)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("    invoke health --json", [["health", "--json"]]),
        (
            "    */5 * * * * cd /srv/app && invoke health --all --json >> /var/log/h.log 2>&1",
            [["health", "--all", "--json"]],
        ),
        ("    startCommand: invoke health --all --notify", [["health", "--all", "--notify"]]),
        ("    - run: INVOKE_ONCALL_TARGET=x invoke health  # every 5 min", [["health"]]),
        ("    invoke health [--json] [--notify]", [["health", "--json", "--notify"]]),
        ("    python3 -m pip install invoke", []),
        ("Run `invoke runs --last 5` to see them.", [["runs", "--last", "5"]]),
        ("    invoke restart --wait/--no-wait", [["restart", "--wait"], ["restart", "--no-wait"]]),
        ("    invoke verify --only TABLE ...", [["verify", "--only", "TABLE"]]),
        ("    invoke smoke, 50 URLs vs 1 URL: ours 0.75 s", []),
        ("```\n$ invoke health\ninvoke --list wall time: 0.2 s\n```", [["health"]]),
    ],
    ids=[
        "indented code",
        "a cron line",
        "a render.yaml key",
        "an Actions step with env",
        "brackets",
        "pip",
        "inline",
        "alternatives",
        "an ellipsis",
        "a figure name in output",
        "output after a prompt",
    ],
)
def test_extraction_finds_commands_where_people_write_them(line: str, expected: list[list[str]]) -> None:
    """Commands are found in code blocks, cron lines, YAML keys and inline code; output and pip are not."""
    assert [argv for _, argv in extract_commands(line)] == expected
