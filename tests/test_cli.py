"""The front door: `rlcs` lists every command, each `rlcs X --help` explains X under its own name, the scripts are
the same commands by path, and one flag spelling (dashes) holds across every command line."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from recipes.pipeline.rlcs import SUBCOMMANDS, main

ROOT = Path(__file__).resolve().parent.parent


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name, command in SUBCOMMANDS.items():
        assert f"  {name}" in out and command.summary in out


def test_unknown_command_is_refused_with_the_list(capsys):
    assert main(["trian"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'trian'" in err and "convert-sft" in err


@pytest.mark.parametrize("name", list(SUBCOMMANDS))
def test_each_command_explains_itself_under_its_name(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([name, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: rlcs {name}") and len(out.splitlines()) > 3


@pytest.mark.slow
def test_run_plans_without_importing_the_trainers(tmp_path):
    """`rlcs run` plans the paper's 7B recipe, verl's full command included, without importing vLLM (the lazy stage
    registry); verl and ms-swift (with torch) are imported by the validation pass for their own config checks."""
    code = ("import sys; from recipes.pipeline.rlcs import main; "
            f"rc = main(['run', 'qwen2_5_vl_7b', 'dry_run=true', 'runs_dir={tmp_path}']); "
            "print('heavy:', sorted(m for m in ('torch', 'verl', 'vllm', 'swift') if m in sys.modules)); sys.exit(rc)")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "heavy: ['swift', 'torch', 'verl']" in p.stdout and "verl.trainer.main_ppo" in p.stdout


def test_scripts_are_thin_shims_without_path_edits():
    for script in sorted((ROOT / "scripts").glob("*.py")):
        text = script.read_text()
        assert "sys.path" not in text, f"{script.name} edits sys.path"
        if script.name != "gpu_check.py":  # the GPU proof is a program of its own (scripts/GPU_CHECK.md)
            assert len(text.splitlines()) <= 16, f"{script.name} is more than a shim"


def _flags(path: Path) -> list[str]:
    """Option strings of every `add_argument` call in `path`."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
            out += [a.value for a in node.args if isinstance(a, ast.Constant) and str(a.value).startswith("--")]
    return out


def test_one_flag_spelling_dashes():
    """Every flag is spelled with dashes; an underscore spelling is accepted only beside its dashed twin, as an
    alias of an upstream tool's (the merger takes verl's `--local_dir`)."""
    sources = [*ROOT.glob("recipes/**/*.py"), *ROOT.glob("SFT/**/*.py"), *ROOT.glob("GRPO/**/*.py"),
               *ROOT.glob("evaluation/**/*.py"), *ROOT.glob("scripts/*.py")]
    odd = []
    for path in sources:
        flags = _flags(path)
        odd += [f"{path.relative_to(ROOT)}: {f}" for f in flags if "_" in f and f.replace("_", "-") not in flags]
    assert not odd, "\n".join(odd)
