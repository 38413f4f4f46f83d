"""Named prompt templates for the teacher: the cold-start variants the paper compares.

The paper compares cold-start sets built as Distilled-CoT (its choice), Caption-CoT, Reflection-CoT and
Self-Critic-CoT but publishes none of the prompts. `distilled_cot` is the SFT system prompt and the bare
problem, which is what the released set's rows look like; the other three are OUR READING of their names
(marked `ours=True`). The student is trained on the original problem either way: the template only shapes
the teacher's response.
"""

from __future__ import annotations

from dataclasses import dataclass

from recipes.data.qwen_vl import IMAGE_TAG


@dataclass(frozen=True)
class Template:
    """How one problem is put to the teacher."""

    name: str
    summary: str
    instruction: str
    """Appended to the question (after a blank line); empty: the bare question."""
    ours: bool
    """True where the paper's prompt is not public and this text is our reading of the variant's name."""

    @property
    def user_suffix(self) -> str:
        """What follows the question in the user turn (evaluation.backends' `GenSettings.user_suffix`)."""
        return f"\n\n{self.instruction}" if self.instruction else ""


def question_text(problem: str) -> str:
    """The problem without its `<image>` tags: the teacher's prompt puts the images first."""
    return problem.replace(IMAGE_TAG, "").strip()


TEMPLATES: dict[str, Template] = {t.name: t for t in (
    Template("distilled_cot", "Distilled-CoT: the teacher reasons step by step and boxes its answer (the paper's "
             "cold start); system prompt = the SFT one, user turn = the problem.", "", ours=False),
    Template("caption_cot", "Caption-CoT: describe the image first, then reason from the description.",
             "First describe the image in detail: every object, label, number and relation that matters for "
             "the question. Then reason step by step from that description, and put your final answer "
             "within \\boxed{}.", ours=True),
    Template("reflection_cot", "Reflection-CoT: reason, then re-check the steps and correct them before "
             "answering.",
             "Reason step by step. Before giving the final answer, reflect on your reasoning: re-check each "
             "step and each number read from the image, and if you find a mistake, say so and fix it. Put "
             "only the final answer within \\boxed{}.", ours=True),
    Template("self_critic_cot", "Self-Critic-CoT: draft a solution, critique it as a strict reviewer, then "
             "write the corrected solution.",
             "First write a draft solution step by step, without boxing its answer. Then critique the draft "
             "as a strict reviewer, naming any error. Finally write the corrected solution and put only its "
             "final answer within \\boxed{}.", ours=True),
)}


def get_template(name: str) -> Template:
    """The template called `name`, else ValueError listing the known ones."""
    if name not in TEMPLATES:
        raise ValueError(f"unknown distill template {name!r}; known: {', '.join(TEMPLATES)}")
    return TEMPLATES[name]
