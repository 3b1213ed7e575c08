"""One grammar for every `vmafkit` command, checked by walking the real command tree.

The oracles are the tables below, written from the CLI's design (issue: one spelling per concept),
not read from `vmafkit.cli.options`: which commands have each shared flag, the spellings no command
may show, the old spellings kept for one release and the exact warning they print."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import vmafkit.cli as cli_package
from tests.factories import TRAINER_SHAPE, synthetic_rows, write_corpus
from vmafkit.cli import COMMAND_MODULES, main

CLI_DIR = Path(cli_package.__file__).parent
README = Path(__file__).resolve().parents[3] / "README.md"


def _commands(group: click.Group = main, prefix: tuple[str, ...] = ()):
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        if isinstance(command, click.Group):
            yield from _commands(command, path)
        else:
            yield " ".join(path), command


COMMANDS = dict(_commands())


def _option(command: click.Command, flag: str) -> click.Option | None:
    return next((p for p in command.params if isinstance(p, click.Option) and flag in p.opts), None)


def _visible_flags(command: click.Command) -> set[str]:
    return {
        o for p in command.params if isinstance(p, click.Option) and not p.hidden for o in p.opts + p.secondary_opts
    }


# ----------------------------------------------------------------------------- shared flags

# Which commands have each shared flag: exactly these (a new command adds itself here).
WHERE = {
    "--progress": {"corpus", "rescore", "run", "train", "export", "subjective train", "target"},
    "--json": {
        "merge",
        "gate",
        "platform",
        "verify",
        "compare",
        "doctor",
        "prereqs",
        "score",
        "diagnose",
        "predict",
        "subjective train",
        "subjective gate",
        "rd",
        "target",
    },
    "--registry": {"registry validate", "registry flip", "registry rollback"},
    "--out": {
        "corpus",
        "rescore",
        "merge",
        "train",
        "export",
        "run",
        "subjective train",
        "extract",
        "bundle",
        "pack-corpus",
        "extract-corpus",
        "dist",
        "import-corpus",
    },
    "--ffmpeg": {
        "corpus",
        "rescore",
        "doctor",
        "prereqs",
        "score",
        "diagnose",
        "run",
        "platform",
        "bundle",
        "pack-corpus",
        "extract-corpus",
        "predict",
        "subjective train",
        "import-corpus",
        "target",
    },
    "--seeds": {"train", "run", "gate", "verdict", "subjective train"},
    "--recipe": {"train", "run"},
    "--csv": {"score", "rd"},
    "--align": {"score", "predict", "subjective train"},
    "--model": {"rescore", "score", "corpus", "run"},
    "--metrics": {"rescore", "score", "corpus", "run"},
    "--subsample": {"rescore", "score", "corpus", "run"},
    "--device": {"train", "run", "export", "subjective train"},
    "--coverage": {"verdict", "predict", "rd", "subjective train"},
}
# Flags with one name, help and default wherever they appear (--out's help says what is written).
SAME_EVERYWHERE = [
    "--scale",
    "--progress",
    "--json",
    "--registry",
    "--ffmpeg",
    "--vmaf-bin",
    "--model",
    "--metrics",
    "--subsample",
    "--seeds",
    "--recipe",
    "--scheduler",
    "--max-frames",
    "--epochs",
    "--batch-size",
    "--lr",
    "--weight-decay",
]


def _definition(option: click.Option) -> dict:
    info = option.to_info_dict()
    info.update(metavar=option.metavar, show_default=option.show_default, callback=option.callback is not None)
    return info


@pytest.mark.parametrize("flag", sorted(WHERE))
def test_each_shared_flag_is_in_exactly_its_commands(flag):
    assert {name for name, command in COMMANDS.items() if _option(command, flag)} == WHERE[flag]


@pytest.mark.parametrize("flag", SAME_EVERYWHERE)
def test_a_shared_flag_has_one_name_help_and_default_everywhere(flag):
    definitions = {name: _definition(_option(cmd, flag)) for name, cmd in COMMANDS.items() if _option(cmd, flag)}
    assert len(definitions) >= 2, f"{flag} is in {sorted(definitions)} only"
    first = next(iter(definitions.values()))
    differing = {name: d for name, d in definitions.items() if d != first}
    assert not differing, f"{flag} differs: {differing} vs {first}"
    assert first["help"], f"{flag} has no help"


@pytest.mark.parametrize(
    "flag, defaults",
    [
        ("--device", {"train": "auto", "run": "auto", "export": "cpu", "subjective train": "cpu"}),
        ("--coverage", {"verdict": 0.95, "predict": 0.95, "rd": 0.95, "subjective train": 0.95}),
    ],
)
def test_device_and_coverage_have_one_type_and_the_stated_defaults(flag, defaults):
    """Defined once (`options.device_option` / `coverage_option`): the same choices or range
    everywhere; --device's default is "cpu" only where the option's definition says why."""
    found = {name: _option(cmd, flag) for name, cmd in COMMANDS.items() if _option(cmd, flag)}
    assert {name: option.default for name, option in found.items()} == defaults
    types = {name: option.to_info_dict()["type"] for name, option in found.items()}
    assert len({repr(t) for t in types.values()}) == 1, types
    assert all(option.help for option in found.values())


def test_the_shared_flags_mean_what_the_grammar_says():
    progress = _option(COMMANDS["corpus"], "--progress")
    assert progress.secondary_opts == ["--no-progress"] and progress.default is None
    assert "terminal" in progress.help
    as_json = _option(COMMANDS["score"], "--json")  # optional value: bare means stdout
    assert as_json.is_flag is False and as_json.flag_value == "-" and as_json.default is None
    as_csv = _option(COMMANDS["score"], "--csv")  # built like --json
    assert as_csv.is_flag is False and as_csv.flag_value == "-" and as_csv.default is None
    assert as_csv.metavar == as_json.metavar == "[PATH]"
    for name in WHERE["--out"]:
        out = _option(COMMANDS[name], "--out")
        assert out.opts == ["--out"] and out.required, name
    for name in WHERE["--registry"]:
        assert _option(COMMANDS[name], "--registry").required, name


FORBIDDEN = {"--quiet", "--out-dir", "--dest", "--ids", "--output", "--output-dir", "--outdir", "--json-out"}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_no_command_shows_a_non_standard_spelling(name):
    command = COMMANDS[name]
    flags = _visible_flags(command)
    assert not flags & FORBIDDEN, f"{name}: {sorted(flags & FORBIDDEN)}"
    assert all(f == "--out" or not f.startswith("--out") for f in flags), f"{name}: {sorted(flags)}"
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    assert not [a for a in arguments if a.name == "registry"], f"{name}: REGISTRY is an argument, not --registry"
    # --id names an ensemble wherever it appears (subjective's id column is --id-column)
    ensemble_id = _option(command, "--id")
    assert ensemble_id is None or ensemble_id.hidden or "nsemble" in ensemble_id.help, name


# ----------------------------------------------------------------------------- old spellings

# (command, old spelling) -> the new spelling it stands for
OLD_SPELLINGS = {
    ("corpus", "--quiet"): "--no-progress",
    ("run", "--quiet"): "--no-progress",
    ("run", "--out-dir"): "--out",
    ("train", "--out-dir"): "--out",
    ("export", "--out-dir"): "--out",
    ("subjective train", "--out-dir"): "--out",
    ("subjective train", "--id"): "--id-column",
    ("subjective train", "--features"): "--feature-columns",
    ("subjective train", "--target"): "--score-column",
    ("subjective train", "--scale-range"): "--score-scale-range",
    ("extract", "--dest"): "--out",
    ("extract-corpus", "--corpus"): "--packed",
    ("registry flip", "--ids"): "--rows",
    ("registry rollback", "--ids"): "--rows",
}


def _hidden_spellings() -> set[tuple[str, str]]:
    found = set()
    for name, command in COMMANDS.items():
        ctx = click.Context(command, info_name=name)
        for param in command.params:
            if isinstance(param, click.Option) and param.hidden:
                found.update((name, o) for o in param.opts)
            elif isinstance(param, click.Argument) and not param.get_usage_pieces(ctx):
                found.add((name, param.make_metavar(ctx)))
    return found


def test_the_hidden_spellings_are_exactly_the_deprecated_ones():
    assert _hidden_spellings() == set(OLD_SPELLINGS) | {("registry validate", "REGISTRY")}


@pytest.mark.parametrize("name", sorted({name for name, _ in OLD_SPELLINGS} | {"registry validate"}))
def test_help_does_not_show_the_old_spellings(name):
    result = CliRunner().invoke(main, [*name.split(), "--help"])
    assert result.exit_code == 0, result.output
    for command, old in OLD_SPELLINGS:
        if command == name:
            assert not re.search(rf"(?<![\w-]){re.escape(old)}(?![\w-])", result.output), (old, result.output)
    usage = result.output.splitlines()[0]
    assert "REGISTRY" not in usage


# The other required flags of each command, so that the old and new spellings parse alone.
REQUIRED = {
    "corpus": ["--ref-dir", "refs", "--out", "c.jsonl"],
    "run": ["--demo"],
    "train": ["--corpus", "c.jsonl"],
    "export": ["--corpus", "c.jsonl", "--verdict", "PROMOTE.json"],
    "subjective train": [],
    "extract": ["b.tar.gz"],
    "extract-corpus": ["--out", "refs"],
    "registry flip": ["--registry", "r.json", "--verdict", "PROMOTE.json"],
    "registry rollback": ["--registry", "r.json", "--reason", "why"],
    "registry validate": [],
}
ALIAS_CASES = [
    ("corpus", ["--quiet"], ["--no-progress"], "--quiet", "--no-progress"),
    ("run", ["--out", "o", "--quiet"], ["--out", "o", "--no-progress"], "--quiet", "--no-progress"),
    ("run", ["--out-dir", "o"], ["--out", "o"], "--out-dir", "--out"),
    ("train", ["--out-dir", "o"], ["--out", "o"], "--out-dir", "--out"),
    ("train", ["--out-dir=o"], ["--out=o"], "--out-dir", "--out"),
    ("export", ["--out-dir", "m"], ["--out", "m"], "--out-dir", "--out"),
    ("subjective train", ["--out-dir", "o"], ["--out", "o"], "--out-dir", "--out"),
    ("subjective train", ["--out", "o", "--id", "name"], ["--out", "o", "--id-column", "name"], "--id", "--id-column"),
    (
        "subjective train",
        ["--out", "o", "--scale-range", "0,10"],
        ["--out", "o", "--score-scale-range", "0,10"],
        "--scale-range",
        "--score-scale-range",
    ),
    ("extract", ["--dest", "d"], ["--out", "d"], "--dest", "--out"),
    ("extract-corpus", ["--corpus", "p"], ["--packed", "p"], "--corpus", "--packed"),
    ("registry flip", ["--ids", "a,b"], ["--rows", "a,b"], "--ids", "--rows"),
    ("registry rollback", ["--ids", "a"], ["--rows", "a"], "--ids", "--rows"),
    ("registry validate", ["r.json"], ["--registry", "r.json"], "REGISTRY as an argument", "--registry REGISTRY"),
]


def _parse(name: str, args: list[str]) -> dict:
    ctx = COMMANDS[name].make_context(name, [*REQUIRED[name], *args])
    return dict(ctx.params)


@pytest.mark.parametrize("name, old_args, new_args, old, new", ALIAS_CASES, ids=[" ".join(c[1]) for c in ALIAS_CASES])
def test_an_old_spelling_still_works_and_warns_once(capsys, name, old_args, new_args, old, new):
    expected = _parse(name, new_args)
    assert capsys.readouterr().err == ""
    assert _parse(name, old_args) == expected
    assert capsys.readouterr().err == f"vmafkit: warning: {old} is deprecated; use {new} (removed in 0.3)\n"


@pytest.mark.parametrize(
    "args",
    [
        ["corpus", "--ref-dir", "r", "--out", "c.jsonl", "--quiet", "--progress"],
        ["train", "--corpus", "c.jsonl", "--out", "a", "--out-dir", "b"],
        ["registry", "validate", "r.json", "--registry", "r.json"],
    ],
)
def test_old_and_new_spelling_together_is_a_usage_error(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    error = result.stderr.splitlines()[-1]
    assert error.startswith("vmafkit: error: ") and "old spelling" in error, result.stderr


def test_registry_validate_with_the_old_positional_reaches_the_command(tmp_path):
    missing = tmp_path / "models" / "registry.json"
    result = CliRunner().invoke(main, ["registry", "validate", str(missing)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "vmafkit: warning: REGISTRY as an argument is deprecated; use --registry REGISTRY (removed in 0.3)",
        f"vmafkit: error: {missing}: registry not found",
    ]


def test_train_with_out_dir_still_trains_into_that_folder(tmp_path):
    corpus = write_corpus(tmp_path / "c.jsonl", synthetic_rows(**{**TRAINER_SHAPE, "frames": 6}))
    out = tmp_path / "loso"
    argv = ["train", "--corpus", str(corpus), "--out-dir", str(out), "--seeds", "0", "--epochs", "1"]
    result = CliRunner().invoke(main, [*argv, "--device", "cpu", "--workers", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert (out / "loso_seed0.json").is_file()
    assert result.stderr.splitlines()[0] == "vmafkit: warning: --out-dir is deprecated; use --out (removed in 0.3)"


def test_readme_lists_every_old_spelling():
    text = README.read_text()
    section = text[text.index("### Deprecated flags") :]
    for (command, old), new in OLD_SPELLINGS.items():
        rows = [line for line in section.splitlines() if command in line and re.search(rf"`{re.escape(old)}[ `]", line)]
        assert len(rows) == 1 and re.search(rf"`{re.escape(new)}[ `]", rows[0]), (command, old, rows)
    assert "`registry validate REGISTRY`" in section


# ----------------------------------------------------------------------------- --json [PATH]


def test_platform_json_bare_prints_and_json_path_writes(tmp_path, monkeypatch):
    monkeypatch.setenv("VMAFKIT_FAKE_PLATFORM", "linux-x86_64-cpu")
    runner = CliRunner()
    bare = runner.invoke(main, ["platform", "--json"])
    assert bare.exit_code == 0, bare.output
    printed = json.loads(bare.stdout)
    assert printed["family"] == "linux-x86_64-cpu"
    assert json.loads(runner.invoke(main, ["platform", "--json=-"]).stdout) == printed
    path = tmp_path / "platform.json"
    to_file = runner.invoke(main, ["platform", "--json", str(path)])
    assert to_file.exit_code == 0, to_file.output
    assert json.loads(path.read_text()) == printed
    assert to_file.stdout.startswith("family: linux-x86_64-cpu")  # the text, as without --json
    assert not list(tmp_path.glob(".*"))  # written atomically: no temp file left


@pytest.fixture
def shards(tmp_path):
    rows = synthetic_rows(**{**TRAINER_SHAPE, "frames": 2})
    half = len(rows) // 2
    return write_corpus(tmp_path / "a.jsonl", rows[:half]), write_corpus(tmp_path / "b.jsonl", rows[half:])


def test_merge_json_bare_prints_and_json_path_writes(tmp_path, shards):
    a, b = shards
    runner = CliRunner()
    bare = runner.invoke(main, ["merge", str(a), str(b), "--out", str(tmp_path / "m1.jsonl"), "--json"])
    assert bare.exit_code == 0, bare.output
    summary = json.loads(bare.stdout)
    n_rows = len(a.read_text().splitlines()) + len(b.read_text().splitlines())
    assert summary["rows_in"] == n_rows and summary["rows_out"] == n_rows
    path = tmp_path / "summary.json"
    to_file = runner.invoke(main, ["merge", str(a), str(b), "--out", str(tmp_path / "m2.jsonl"), "--json", str(path)])
    assert to_file.exit_code == 0, to_file.output
    written = json.loads(path.read_text())
    assert {k: v for k, v in written.items() if k != "out"} == {k: v for k, v in summary.items() if k != "out"}
    assert to_file.stdout.startswith(f"rows in {n_rows}, out {n_rows}")


def test_a_bare_json_before_the_shards_does_not_overwrite_one(tmp_path, shards):
    a, b = shards
    before = a.read_bytes()
    result = CliRunner().invoke(main, ["merge", "--json", str(a), str(b), "--out", str(tmp_path / "m.jsonl")])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"vmafkit: error: {a}: --json would write the summary over a corpus file")
    assert a.read_bytes() == before and not (tmp_path / "m.jsonl").exists()


def test_a_bare_json_before_the_argument_is_explained(tmp_path):
    bundle = tmp_path / "results.tar.gz"
    result = CliRunner().invoke(main, ["verify", "--json", str(bundle)])
    assert result.exit_code == 2
    assert f"Missing argument 'BUNDLE'; --json took '{bundle}' as its PATH" in result.stderr
    assert not bundle.exists()
    result = CliRunner().invoke(main, ["gate", "--json", str(tmp_path)])  # a folder is no JSON file
    assert result.exit_code == 2 and "Invalid value for '--json'" in result.stderr and "is a directory" in result.stderr


# ----------------------------------------------------------------------------- registration, exit codes


def test_every_command_module_is_registered():
    modules = {p.stem for p in CLI_DIR.glob("*.py")} - {"__init__", "__main__", "_common", "options"}
    assert {m.__name__.rsplit(".", 1)[1] for m in COMMAND_MODULES} == modules


def test_exit_codes_come_from_the_named_constants():
    """No `return 2` or `sys.exit(1)` in the CLI: every code is an EXIT_* name from errors.py."""
    literal = []
    for path in sorted(CLI_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            value = None
            if isinstance(node, ast.Return):
                value = node.value
            elif isinstance(node, ast.Call) and ast.unparse(node.func) == "sys.exit" and node.args:
                value = node.args[0]
            if isinstance(value, ast.Constant) and type(value.value) is int:  # not True/False
                literal.append(f"{path.name}:{node.lineno}")
    assert literal == []


def test_training_defaults_are_the_recipes():
    from vmafkit.cli import options
    from vmafkit.train.model import RECIPE_NAMES, Recipe

    recipe = Recipe()
    assert (options.DEFAULT_EPOCHS, options.DEFAULT_BATCH_SIZE) == (recipe.epochs, recipe.batch_size)
    assert (options.DEFAULT_LR, options.DEFAULT_WEIGHT_DECAY) == (recipe.lr, recipe.weight_decay)
    assert options.RECIPE_CHOICES == RECIPE_NAMES


# ----------------------------------------------------------------------------- one module shape


def _is_click_decorator(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("command", "group")
    )


@pytest.mark.parametrize("module", COMMAND_MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_every_command_module_has_the_same_shape(module):
    """Commands are defined at module level (`<name>_cmd`, a group `<name>_group`), never inside a
    function, and the module ends with `register(main)`, which only adds them."""
    tree = ast.parse(Path(module.__file__).read_text())
    body = [n for n in tree.body if not (isinstance(n, ast.If) and "__main__" in ast.unparse(n.test))]
    last = body[-1]
    assert isinstance(last, ast.FunctionDef) and last.name == "register", f"{module.__name__}: register is not last"
    added = []
    for statement in last.body:
        call = statement.value if isinstance(statement, ast.Expr) else None
        assert isinstance(call, ast.Call) and ast.unparse(call.func) == "main.add_command", ast.unparse(statement)
        added.append(ast.unparse(call.args[0]))
    top_level = []
    for node in tree.body:
        for inner in ast.walk(node):
            if isinstance(inner, ast.FunctionDef) and any(_is_click_decorator(d) for d in inner.decorator_list):
                assert inner in tree.body, f"{module.__name__}: command {inner.name} is defined inside a function"
                assert inner.name.endswith(("_cmd", "_group")), f"{module.__name__}: {inner.name}"
                if any(
                    ast.unparse(d.func).startswith("click.") for d in inner.decorator_list if _is_click_decorator(d)
                ):
                    top_level.append(inner.name)
    assert sorted(set(added)) == sorted(top_level), f"{module.__name__}: registers {added}, defines {top_level}"


def test_the_shape_check_catches_a_command_defined_inside_register(tmp_path, monkeypatch):
    """The check above bites: a module whose command is defined inside `register` fails it."""
    bad = tmp_path / "bad_commands.py"
    bad.write_text("import click\n\n\ndef register(main):\n    @main.command('x')\n    def x_cmd():\n        pass\n")
    module = type("M", (), {"__file__": str(bad), "__name__": "bad_commands"})
    with pytest.raises(AssertionError, match="main.command|inside a function"):
        test_every_command_module_has_the_same_shape(module)


# ----------------------------------------------------------------------------- one meaning a flag

# Flags on two or more commands whose definitions differ, each with why. Every other such flag
# has one definition (name, type, help, default) wherever it appears.
DIFFER_BY_DESIGN = {
    "--out": "what is written differs (a file, a folder): out_option, one name, its help says what",
    "--corpus": "a corpus file (corpus_option); required except for report, which finds the run's own",
    "--device": "cpu by default where a full refit's bits must not depend on a GPU (device_option)",
    "--coverage": "one range and default (coverage_option); the help says what the interval is for",
    "--encoders": "a grid to build (corpus, run: grid_options) or encoders to check (doctor)",
    "--jobs": "what runs at once differs: cells (corpus, run) or pairs (subjective train)",
    "--ref-dir": "reference clips to encode, snapshot, pack or import against: the help says which",
    "--ref": "score needs the pair; predict takes it or --features (so not required there)",
    "--dis": "score needs the pair; predict takes it or --features (so not required there)",
    "--bootstrap": "resamples of a bootstrap; the help says of which statistic",
    "--id": "an ensemble's id: the one written (export) or the one chosen (predict, registry)",
    "--verdict": "the verdict file, exported under (export) or flipped on (registry flip)",
    "--workers": "CPU shards of an ensemble fit; the help names the fit",
    "--preset": "an encoder preset: the one a seed corpus used (import-corpus), a row label (predict), the one "
    "target encodes with (default medium)",
    "--models": "a models folder: predicted with (predict, required), drawn beside a curve (rd), guiding a search "
    "(target)",
    "--pool": "pools to report (score: several) or the one pool a target is met under (target)",
    "--encoder": "a row label (predict, optional) or the encoder target encodes with (default libx264)",
    "--resolutions": "a ladder to build (corpus, run) or to search rung by rung (target)",
    "--rows": "member row ids; the default (every exported row / every non-smoke row) differs",
}


def test_a_flag_on_several_commands_is_defined_once_or_named_here():
    """Each flag on two or more commands has one definition everywhere, or is on the list above;
    and the list has no stale entry."""
    seen: dict[str, dict[str, dict]] = {}
    for name, command in COMMANDS.items():
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                for flag in param.opts:
                    if flag.startswith("--"):
                        info = _definition(param)
                        info.pop("name", None)
                        seen.setdefault(flag, {})[name] = info
    shared = {flag: by_command for flag, by_command in seen.items() if len(by_command) > 1}
    differing = sorted(
        flag
        for flag, by_command in shared.items()
        if any(d != next(iter(by_command.values())) for d in by_command.values())
    )
    assert [flag for flag in differing if flag not in DIFFER_BY_DESIGN] == []
    stale = [flag for flag in DIFFER_BY_DESIGN if flag not in differing]
    assert stale == [], f"defined once now: drop them from DIFFER_BY_DESIGN: {stale}"
