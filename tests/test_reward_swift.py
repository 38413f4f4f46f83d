"""The ms-swift face: loaded the way ``--external_plugins`` loads it, registered in swift's ``orms``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from reward_cases import CASES

ROOT = Path(__file__).resolve().parent.parent


def test_no_reward_fns_module_shadows_another_once_its_folder_is_on_sys_path(monkeypatch):
    """ms-swift's `--external_plugins` puts reward_fns/ first on sys.path: no module name there may be taken."""
    monkeypatch.setattr(sys, "path", [p for p in sys.path if Path(p or ".").resolve() != ROOT / "reward_fns"])
    names = sorted(p.stem for p in (ROOT / "reward_fns").glob("*.py") if p.stem != "__init__")
    assert "verl_reward" in names and [n for n in names if importlib.util.find_spec(n) is not None] == []


@pytest.mark.slow  # importing swift alone takes 15-50 s on a shared 2-core machine
def test_swift_plugin_registers_orms_and_scores():
    from swift.rewards import orms
    from swift.utils.utils import import_external_file

    import_external_file(str(ROOT / "reward_fns" / "swift_orm.py"))  # what --external_plugins does
    verl = importlib.util.find_spec("verl")  # reward_fns/ is now first on sys.path: verl is still verl
    assert verl is None or not verl.origin.startswith(str(ROOT / "reward_fns"))
    acc, fmt = orms["rlcs_accuracy"](), orms["rlcs_format"]()
    cases = [c for c in CASES if len(c.full_response) < 2000][:60]
    got = acc(completions=[c.full_response for c in cases], solution=[c.gold for c in cases],
              options=[c.options for c in cases], problem=[c.problem for c in cases],
              precision=[c.precision for c in cases], messages=[[] for _ in cases])
    assert got == [1.0 if c.expected else 0.0 for c in cases]
    conversational = [[{"role": "assistant", "content": r"Adding the numbers step by step gives \boxed{5}"}]]
    assert acc(completions=conversational, solution=["5"]) == [1.0]
    assert fmt(completions=["Adding the two numbers step by step gives " + r"\boxed{5}", r"\boxed{5}\boxed{5}"]) \
        == [1.0, 0.0]


@pytest.mark.slow
def test_accuracy_reads_verl_columns_and_grades():
    """The rl_data parquet read as is (what the swift backend passes): real ms-swift ORM base class, real grader."""
    from swift.rewards import orms

    from reward_fns import swift_orm

    orm = orms["rlcs_accuracy"](args=None)
    completions = ["so \\boxed{52}", "\\boxed{51}", "the answer is \\boxed{D}", "\\boxed{50}"]
    rewards = orm(
        completions,
        reward_model=[{"style": "rule", "ground_truth": "52"}] * 2 + [{"style": "rule", "ground_truth": "D"}] * 2,
        extra_info=[{"index": 0, "options": []}] * 2 + [{"index": 1, "options": ["49", "56", "54", "50"]}] * 2,
        trainer_state=None,
    )
    assert rewards == [1.0, 0.0, 1.0, 1.0]  # "50" is option D's content
    assert swift_orm.verl_columns_to_orm(1, {"reward_model": [{"ground_truth": "3"}], "extra_info": [{}]}) == {
        "solution": ["3"], "options": [None]}
    with pytest.raises(ValueError, match=r"completion 0: .* no `ground_truth`"):
        orm(["\\boxed{1}"], reward_model=[{"style": "rule"}], extra_info=[{}])
    with pytest.raises(ValueError, match="no `reward_model` column"):
        orm(["\\boxed{1}"], extra_info=[{}])
