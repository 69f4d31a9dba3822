"""Every `invoke ...` command written in runbooks/, README.md and docs/ names real tasks and flags.

The commands are parsed with Invoke's own parser, built exactly as the `invoke` binary builds it
(its core flags, then our namespace's task contexts), so a renamed task or a misspelt flag in a
runbook fails here instead of at 3 a.m.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from invoke import Program
from invoke.parser import ParseError, Parser

from oncall.tasks import ns

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted([*REPO.glob("runbooks/*.md"), REPO / "README.md", *REPO.glob("docs/*.md")], key=str)

_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE = re.compile(r"`(invoke [^`]+)`")
# Tokens after which a word is in command position: start, shell operators, prompts, YAML keys.
_SEPARATORS = {"&&", "||", ";", "|", "$", "-", "(", "then", "do", "exec", "time"}
_REDIRECT = re.compile(r"^\d*[<>&|;()]+\S*$")


def _code_lines(text: str) -> list[tuple[int, str]]:
    """(line number, text) of lines inside fenced or indented code blocks, plus inline code spans."""
    found: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced or line.startswith(("    ", "\t")):
            found.append((number, line))
        else:
            found.extend((number, span) for span in _INLINE.findall(line))
    return found


def _in_command_position(tokens: list[str], index: int) -> bool:
    if index == 0:
        return True
    before = tokens[index - 1]
    return (
        before in _SEPARATORS
        or before.endswith(":")
        or bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S*", before))
    )


def extract_commands(text: str) -> list[tuple[int, list[str]]]:
    """Every `invoke` command line in Markdown text as (line number, argv after `invoke`).

    Optional-flag brackets (`[--json]`) are read as the flag itself; a trailing `# comment`, a
    pipe, `&&`, `;` or a redirection ends the command.
    """
    commands = []
    for number, line in _code_lines(text):
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
                commands.append((number, argv))
    return commands


def parse_like_invoke(argv: list[str]) -> None:
    """Parse argv as `invoke` does (core flags, then tasks and their flags); ParseError if wrong."""
    program = Program()
    parser = Parser(initial=program.initial_context, contexts=ns.to_contexts(ignore_unknown_help=False))
    parser.parse_argv(argv)


def _all_commands() -> list[tuple[str, list[str]]]:
    found = []
    for path in SOURCES:
        if path.exists():
            for number, argv in extract_commands(path.read_text(encoding="utf-8")):
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
    except ParseError as exc:
        pytest.fail(f"{where}: `invoke {' '.join(argv)}` does not parse: {exc}")


@pytest.mark.parametrize(
    "argv",
    [
        ["no-such-task"],
        ["health", "--no-such-flag"],
        ["health", "--json", "recover", "--bogus"],
        ["runs", "--last"],
    ],
    ids=["an unknown task", "an unknown flag", "a bad flag later in a chain", "a flag missing its value"],
)
def test_the_check_rejects_what_invoke_rejects(argv: list[str]) -> None:
    """The parser check is not a rubber stamp: what `invoke` would refuse, it refuses too."""
    with pytest.raises(ParseError):
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
    ],
    ids=[
        "indented code",
        "a cron line",
        "a render.yaml key",
        "an Actions step with env",
        "brackets",
        "pip",
        "inline",
    ],
)
def test_extraction_finds_commands_where_people_write_them(line: str, expected: list[list[str]]) -> None:
    """Commands are found in code blocks, cron lines, YAML keys and inline code; pip installs are not."""
    assert [argv for _, argv in extract_commands(line)] == expected
