"""The per-process cache of composed configs (recipes/pipeline/compose.py): callers get copies, an edited YAML
file is composed again, a failure is raised every time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from recipes.pipeline.compose import ConfigError, compose, hydra_compose


def _tree(tmp_path: Path, lr: float) -> Path:
    (tmp_path / "opt").mkdir(exist_ok=True)
    (tmp_path / "opt" / "adam.yaml").write_text(f"lr: {lr}\nbetas: [0.9, 0.999]\n", encoding="utf-8")
    (tmp_path / "app.yaml").write_text("defaults:\n  - opt: adam\n  - _self_\nname: app\n", encoding="utf-8")
    return tmp_path


def test_each_caller_gets_its_own_copy(tmp_path: Path) -> None:
    tree = _tree(tmp_path, 0.1)
    first = hydra_compose(tree, "app", ["name=x"])
    first.opt.lr = 9.0
    first.opt.betas.append(1.0)
    second = hydra_compose(tree, "app", ["name=x"])
    assert OmegaConf.to_container(second) == {"opt": {"lr": 0.1, "betas": [0.9, 0.999]}, "name": "x"}
    assert second is not first and second.opt.betas is not first.opt.betas


def test_an_edited_file_is_composed_again(tmp_path: Path) -> None:
    tree = _tree(tmp_path, 0.1)
    assert hydra_compose(tree, "app").opt.lr == 0.1
    path = tree / "opt" / "adam.yaml"
    stat = path.stat()
    _tree(tmp_path, 0.2)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # a new time even on a coarse clock
    assert hydra_compose(tree, "app").opt.lr == 0.2


def test_a_refused_override_raises_on_every_call(tmp_path: Path) -> None:
    tree = _tree(tmp_path, 0.1)
    for _ in range(2):
        with pytest.raises(ConfigError, match=r"'app' with overrides \['opt=sgd'\]: .*sgd"):
            hydra_compose(tree, "app", ["opt=sgd"])


def test_a_recipe_composed_twice_is_equal_and_read_only() -> None:
    a, b = compose("tiny", ["sft.seed=3"]), compose("tiny", ["sft.seed=3"])
    assert a is not b and OmegaConf.to_container(a) == OmegaConf.to_container(b) and a.sft.seed == 3
    assert OmegaConf.is_readonly(a) and OmegaConf.is_readonly(b)
