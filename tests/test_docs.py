"""Every snippet in README.md, CONTRIBUTING.md and docs/*.md is checked, so the docs cannot rot.

The blocks of one file are taken in document order, in one scratch directory:

- a ```python block runs (all python blocks of a file share one namespace);
- a ```bash block needs a marker on the line right before its fence, which says what happens:

      <!-- docs-test: run -->
          every command runs: ``zipasr ...`` in this process (``zipasr.cli.main.main``), the
          few other programs allowed in a subprocess; any failure fails the test;
      <!-- docs-test: parse-only (why it cannot run here) -->
          nothing runs, but every command is checked: a ``zipasr`` command line (also under
          ``torchrun``/``python -m zipasr.cli.main``) must pass zipasr's real argument parser,
          and ``zipasr train``'s overrides the training config's; repository paths must exist
          and scripts must pass ``bash -n``; pip extras must exist in pyproject.toml; any other
          program must be one this file knows.

A bash block without a marker, an unknown marker, a marker that is not right before a bash
fence, and fences in other shell dialects (```sh, ```console, ...) are errors. Backticked
``zipasr.x.y`` names in the prose must import, and backticked repository paths must exist.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import linecache
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]

#: Fence languages that hold no code to check (file trees, configs, program output).
DATA_LANGUAGES = {"", "text", "yaml", "json", "toml"}
#: Programs a parse-only block may name besides zipasr, python, pip, torchrun and repo scripts.
KNOWN_PROGRAMS = {
    "ruff", "mypy", "pre-commit", "git", "tensorboard", "nvidia-smi", "ls", "cat", ".", "deactivate"
}  # fmt: skip
#: Modules ``python -m`` may run in a parse-only block, besides zipasr.cli.main.
KNOWN_MODULES = {"pytest", "pip", "venv"}
#: Programs a runnable block may run besides zipasr (cheap, local, no network).
RUNNABLE_PROGRAMS = {"python", "python3", "ls", "cat", "head", "mkdir", "cp"}


#: Top-level folders of the repository: a word starting with one of these is a repo path.
def _repository_dirs() -> set[str]:
    """The repository's own top-level folders: those git tracks files in (folders a user's
    commands made in the checkout, such as the demo's output, are not the repository's)."""
    try:
        listed = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):  # not a git checkout
        return {p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".")}
    return {path.split("/", 1)[0] for path in listed if "/" in path and path[0] != "."}


REPO_DIRS = _repository_dirs()
SEPARATORS = {"&&", "||", ";", "|"}
REDIRECTIONS = {">", ">>", "<", "2>", "&>"}

MARKER = re.compile(r"<!--\s*docs-test:(.*?)-->")
FENCE = re.compile(r"^(\s*)```(.*)$")


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    mode: str = "run"  # python: always "run"; bash: "run" or "parse-only"
    reason: str = ""

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line}"


@dataclass
class Command:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    redirected: bool = False


def parse_markdown(path: Path) -> list[Block]:
    """The python and bash blocks of ``path`` with their markers; ValueError on any misuse."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    marker: tuple[int, str] | None = None
    i = 0
    while i < len(lines):
        text = lines[i]
        fence = FENCE.match(text)
        if text.lstrip().startswith("<!--") and "docs-test" in text:
            m = MARKER.fullmatch(text.strip())
            if m is None:
                raise ValueError(f"{path.name}:{i + 1}: malformed docs-test marker {text!r}")
            if marker is not None:
                raise ValueError(f"{path.name}:{marker[0]}: marker not followed by a bash block")
            marker = (i + 1, m.group(1).strip())
            i += 1
            continue
        if fence is None:
            if marker is not None:
                raise ValueError(
                    f"{path.name}:{marker[0]}: marker not right before a ```bash fence"
                )
            i += 1
            continue
        indent, language = fence.group(1), fence.group(2).strip()
        start, body = i + 1, []
        i += 1
        while i < len(lines) and not re.match(rf"^{indent}```\s*$", lines[i]):
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        if i == len(lines):
            raise ValueError(f"{path.name}:{start}: unclosed code fence")
        i += 1  # the closing fence
        code = "\n".join(body) + "\n"
        where = f"{path.name}:{start}"
        if language == "python":
            if marker is not None:
                raise ValueError(f"{where}: python blocks always run; remove the marker")
            blocks.append(Block(path, start, language, code))
        elif language == "bash":
            if marker is None:
                raise ValueError(
                    f"{where}: bash block without a marker; put '<!-- docs-test: run -->' or "
                    "'<!-- docs-test: parse-only (why) -->' on the line before the fence"
                )
            mode, reason = parse_marker(marker[1], f"{path.name}:{marker[0]}")
            blocks.append(Block(path, start, language, code, mode, reason))
        elif language in DATA_LANGUAGES:
            if marker is not None:
                raise ValueError(f"{where}: a ```{language} block is not checked; drop the marker")
        else:
            raise ValueError(
                f"{where}: fence language {language!r} is not checked; use ```python or ```bash "
                f"for code, or one of {sorted(DATA_LANGUAGES)} for data"
            )
        marker = None
    if marker is not None:
        raise ValueError(f"{path.name}:{marker[0]}: marker not followed by a bash block")
    return blocks


def parse_marker(text: str, where: str) -> tuple[str, str]:
    if text == "run":
        return "run", ""
    m = re.fullmatch(r"parse-only\s*\((.*\S.*)\)", text)
    if m:
        return "parse-only", m.group(1).strip()
    raise ValueError(f"{where}: unknown docs-test marker {text!r}; use 'run' or 'parse-only (why)'")


def split_commands(code: str, where: str) -> list[Command]:
    """Simple commands of a bash block: comments dropped, continuations joined, split at
    ``&&``, ``||``, ``;`` and ``|``; leading ``VAR=value`` words become the command's env."""
    logical = code.replace("\\\n", " ")
    commands: list[Command] = []
    for line in logical.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError as error:
            raise ValueError(f"{where}: cannot split {line!r}: {error}") from None
        current: list[str] = []
        for token in [*tokens, ";"]:
            if token in SEPARATORS:
                if current:
                    commands.append(to_command(current, where))
                elif token != ";":
                    raise ValueError(f"{where}: {token!r} without a command in {line!r}")
                current = []
            else:
                current.append(token)
    return commands


def to_command(words: list[str], where: str) -> Command:
    command = Command([])
    rest = iter(words)
    for word in rest:
        if word in REDIRECTIONS or word in {"&", "(", ")"}:
            command.redirected = True
            if word in REDIRECTIONS:
                next(rest, None)  # the file name
            continue
        if not command.argv and re.fullmatch(r"[A-Za-z_]\w*=.*", word):
            name, _, value = word.partition("=")
            command.env[name] = value
            continue
        command.argv.append(word)
    if not command.argv:
        raise ValueError(f"{where}: no command in {' '.join(words)!r}")
    return command


# --- parse-only checks ----------------------------------------------------------------------


def check_zipasr(args: list[str], where: str) -> None:
    """``args`` must pass zipasr's argument parser; ``train`` overrides must fit TrainConfig."""
    from zipasr.cli.main import build_parser

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            namespace = build_parser().parse_args(args)
    except SystemExit as stop:
        code = stop.code
    else:
        code = None
    if code == 0:  # --help
        return
    if code is not None:
        message = err.getvalue().strip().splitlines()[-1:]
        pytest.fail(f"{where}: `zipasr {shlex.join(args)}` is rejected: {message}")
    if namespace.command == "train":
        from zipasr.train.config import load_config

        config = ROOT / namespace.config
        try:
            load_config(config if config.is_file() else None, namespace.overrides)
        except (ValueError, TypeError) as error:
            pytest.fail(f"{where}: `zipasr {shlex.join(args)}`: {error}")


def check_pip(args: list[str], where: str) -> None:
    """Extras named in ``pip install '.[a,b]'`` / ``zipasr[a]`` must exist in pyproject.toml."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    with open(ROOT / "pyproject.toml", "rb") as f:
        extras = set(tomllib.load(f)["project"]["optional-dependencies"])
    for arg in args:
        m = re.fullmatch(r"(?:\.|zipasr)\[([\w,\-]+)\]", arg)
        if m:
            unknown = set(m.group(1).split(",")) - extras
            assert not unknown, f"{where}: pip extras {sorted(unknown)} not in pyproject.toml"


def check_repo_paths(args: list[str], where: str) -> None:
    for arg in args:
        head = arg.split("/", 1)[0]
        if "/" in arg and head in REPO_DIRS and not any(c in arg for c in "*?{}<>$"):
            assert (ROOT / arg).exists(), f"{where}: {arg} does not exist in the repository"


def check_command(command: Command, where: str) -> None:
    """What a parse-only block's command can be checked for without running it."""
    prog, args = command.argv[0], command.argv[1:]
    if prog == "time" and args:
        return check_command(Command(args, command.env), where)
    check_repo_paths(args, where)
    if prog == "export":
        assert all("=" in a for a in args), f"{where}: export takes NAME=VALUE"
    elif prog == "zipasr":
        check_zipasr(args, where)
    elif prog == "torchrun":
        assert "-m" in args, f"{where}: torchrun without -m zipasr.cli.main"
        module = args.index("-m") + 1
        assert args[module] == "zipasr.cli.main", f"{where}: torchrun -m {args[module]}"
        check_zipasr(args[module + 1 :], where)
    elif prog in ("python", "python3"):
        if args[:2] == ["-m", "zipasr.cli.main"]:
            check_zipasr(args[2:], where)
        elif args[:1] == ["-m"]:
            assert args[1] in KNOWN_MODULES, f"{where}: python -m {args[1]} is unknown here"
        else:
            script = args[0] if args else ""
            assert script.endswith(".py") and Path(ROOT / script).is_file(), (
                f"{where}: python {script!r}: not a script of the repository"
            )
    elif prog == "pip":
        check_pip(args, where)
    elif "/" in prog:
        script = ROOT / prog
        assert script.is_file(), f"{where}: {prog} does not exist in the repository"
        assert os.access(script, os.X_OK), f"{where}: {prog} is not executable"
        syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert syntax.returncode == 0, f"{where}: bash -n {prog}: {syntax.stderr}"
    else:
        assert prog in KNOWN_PROGRAMS, (
            f"{where}: unknown program {prog!r} in a parse-only block (known: zipasr, python, "
            f"pip, torchrun, repository scripts, {sorted(KNOWN_PROGRAMS)})"
        )


# --- running ---------------------------------------------------------------------------------


def run_command(command: Command, where: str) -> None:
    """Runs one command of a runnable block in the current (scratch) directory."""
    from zipasr.cli.main import main

    argv = command.argv
    assert not command.redirected, f"{where}: no redirections in a runnable block: {argv}"
    assert not any("$" in a or "`" in a for a in argv), f"{where}: no expansions here: {argv}"
    if argv[0] == "zipasr" and not command.env:
        threads = torch.get_num_threads()  # `zipasr info --threads N` sets it process-wide
        try:
            code = main(argv[1:])
        except SystemExit as stop:
            code = stop.code
        finally:
            torch.set_num_threads(threads)
        assert code in (0, None), f"{where}: `{shlex.join(argv)}` exited with {code}"
        return
    if argv[0] == "zipasr":
        argv = [sys.executable, "-m", "zipasr.cli.main", *argv[1:]]
    elif argv[0] in ("python", "python3"):
        argv = [sys.executable, *argv[1:]]
    else:
        assert argv[0] in RUNNABLE_PROGRAMS, (
            f"{where}: {argv[0]!r} may not run in a runnable block (allowed: zipasr, "
            f"{sorted(RUNNABLE_PROGRAMS)}); mark the block parse-only"
        )
    done = subprocess.run(
        argv, env={**os.environ, **command.env}, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, (
        f"{where}: `{shlex.join(command.argv)}` exited with {done.returncode}:\n"
        f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    )


def docs_with_blocks() -> list[Path]:
    found = []
    for path in DOCS:
        try:
            if parse_markdown(path):
                found.append(path)
        except ValueError:
            found.append(path)  # test_snippets reports the error
    return found


# --- tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_markers(path):
    """Every bash block is marked run or parse-only (with a reason); no stray markers."""
    blocks = parse_markdown(path)
    assert all(b.reason for b in blocks if b.mode == "parse-only")


def test_readme_has_snippets():
    blocks = parse_markdown(ROOT / "README.md")
    assert sum(b.language == "python" for b in blocks) >= 3
    assert sum(b.language == "bash" for b in blocks) >= 3


@pytest.mark.parametrize("path", docs_with_blocks(), ids=lambda p: p.name)
def test_snippets(path, tmp_path, monkeypatch):
    """The python and bash blocks of one file, in order, in one scratch directory."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    for block in parse_markdown(path):
        if block.language == "python":
            name = f"{block.where} (python)"
            # Registered so that a failing snippet's traceback shows its lines.
            linecache.cache[name] = (len(block.code), None, block.code.splitlines(True), name)
            exec(compile(block.code, name, "exec"), namespace)  # our own documentation
            continue
        for command in split_commands(block.code, block.where):
            if block.mode == "run":
                run_command(command, block.where)
            else:
                check_command(command, block.where)


def backticked(path: Path) -> list[str]:
    """Inline code spans outside fenced blocks."""
    text = re.sub(r"^\s*```.*?^\s*```", "", path.read_text(), flags=re.DOTALL | re.MULTILINE)
    return re.findall(r"`([^`\n]+)`", text)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_names_and_paths_in_prose_exist(path):
    """`zipasr.a.b` names import, and repository paths (`zipasr/nn/bias_norm.py`,
    `tests/...`, `recipes/...`) exist, with `{a,b}` alternatives expanded."""
    for span in backticked(path):
        if re.fullmatch(r"zipasr(\.\w+)+", span):
            parts = span.split(".")
            for cut in range(len(parts), 0, -1):
                try:
                    obj = importlib.import_module(".".join(parts[:cut]))
                except ModuleNotFoundError:
                    continue
                for attr in parts[cut:]:
                    assert hasattr(obj, attr), f"{path.name}: `{span}`: no {attr!r}"
                    obj = getattr(obj, attr)
                break
        elif re.fullmatch(
            r"(src/)?zipasr/[\w/.]+|(tests|tools|benchmarks|recipes|docs)/[\w/.{},]+", span
        ):
            alternatives = re.fullmatch(r"(.*)\{([^}]*)\}(.*)", span)
            names = (
                [alternatives[1] + a + alternatives[3] for a in alternatives[2].split(",")]
                if alternatives
                else [span]
            )
            for name in names:
                name = name if not name.startswith("zipasr/") else "src/" + name
                assert (ROOT / name).exists(), f"{path.name}: `{span}` does not exist"


def install_lines(code: str) -> list[str]:
    """The lines of a bash block that install something (comments stripped)."""
    lines = (line.split("#", 1)[0].strip() for line in code.splitlines())
    return [line for line in lines if line.startswith("pip install")]


def test_ci_installs_as_the_readme_says():
    """.ci/run installs into its two fresh venvs with README's own lines, verbatim: the full
    install (README's first block, which starts from a fresh venv) and the core install."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    blocks = [b for b in parse_markdown(ROOT / "README.md") if b.language == "bash"]
    readme = install_lines(blocks[0].code)
    core = [line for b in blocks for line in install_lines(b.code) if line.endswith("-e .")]
    assert len(core) == 1, f"README should show the core install once: {core}"
    expected = readme + core
    assert blocks[0].code.lstrip().startswith("python3 -m venv"), blocks[0].code
    assert any('".[dev]"' in line for line in readme), readme
    for line in expected:
        assert line in [c.strip() for c in ci], f".ci/run does not run README's {line!r}"
