"""A small byte-level BPE tokenizer trained locally, with Qwen2.5-VL's special tokens at their real ids.

The trained vocabulary (a few thousand tokens) is padded with unreachable placeholder tokens up to id
151642 so that ``<|endoftext|>`` lands on 151643, ``<|image_pad|>`` on 151655 and so on, exactly as in
Qwen/Qwen2.5-VL-7B-Instruct (ms-swift hard-codes the image / video pad ids). The pre-tokenizer, normalizer
and decoder are Qwen2's, so ``Qwen2Tokenizer`` (what ``AutoTokenizer`` picks) rebuilds the same pipeline.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

logger = logging.getLogger(__name__)

#: Qwen2's pre-tokenizer regex (transformers' ``tokenization_qwen2.PRETOKENIZE_REGEX``).
PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"""
    r"""\s*[\r\n]+|\s+(?!\S)|\s+"""
)

#: First id of Qwen's added tokens; the BPE vocabulary (trained + placeholders) fills ids below it.
FIRST_SPECIAL_ID = 151643

#: (content, special) for ids 151643.. in order, as in Qwen2.5-VL-7B-Instruct's tokenizer_config.json.
QWEN_ADDED_TOKENS: tuple[tuple[str, bool], ...] = (
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
)

#: Qwen2.5-VL-Instruct's chat template (copied verbatim from its chat_template.json).
QWEN2_5_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

#: Qwen3-VL's added tokens after Qwen2.5-VL's (ids 151665..151668, none special), as in Qwen3-VL-8B-Instruct.
QWEN3_ADDED_TOKENS: tuple[tuple[str, bool], ...] = (
    ("<tool_response>", False),
    ("</tool_response>", False),
    ("<think>", False),
    ("</think>", False),
)

#: Qwen3-VL-Instruct's chat template, reduced to what this project renders (system / user / assistant turns of
#: text and images; no tools). As in the real one: no default system message, content lists or strings, the
#: same vision placeholders, `add_vision_id` honoured. Written here, not copied.
QWEN3_VL_CHAT_TEMPLATE = (
    "{%- set image_count = namespace(value=0) %}{%- set video_count = namespace(value=0) %}"
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\n' }}"
    "{%- if message['content'] is string %}{{- message['content'] }}"
    "{%- else %}{%- for content in message['content'] %}"
    "{%- if message['role'] != 'system' and (content['type'] == 'image' or 'image' in content "
    "or 'image_url' in content) %}"
    "{%- set image_count.value = image_count.value + 1 %}"
    "{%- if add_vision_id %}Picture {{ image_count.value }}: {% endif -%}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif message['role'] != 'system' and (content['type'] == 'video' or 'video' in content) %}"
    "{%- set video_count.value = video_count.value + 1 %}"
    "{%- if add_vision_id %}Video {{ video_count.value }}: {% endif -%}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{%- elif 'text' in content %}{{- content['text'] }}{%- endif %}"
    "{%- endfor %}{%- endif %}"
    "{{- '<|im_end|>\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}"
)

#: Family -> (added tokens from id 151643 on, chat template) of the tiny world's tokenizer.
FAMILY_TOKENS: dict[str, tuple[tuple[tuple[str, bool], ...], str]] = {
    "qwen2_5_vl": (QWEN_ADDED_TOKENS, QWEN2_5_VL_CHAT_TEMPLATE),
    "qwen3_vl": (QWEN_ADDED_TOKENS + QWEN3_ADDED_TOKENS, QWEN3_VL_CHAT_TEMPLATE),
}

#: Size of the trained part of the vocabulary (the rest up to 151643 are placeholders).
TRAINED_VOCAB_SIZE = 8000

_WORDS = (
    "the of and to in is a that for it as with was on be by are this from at or an which what how many "
    "find compute calculate determine given figure shown below above image picture diagram chart graph "
    "table plot bar line circle triangle rectangle square polygon hexagon pentagon angle side length width "
    "height radius diameter area perimeter volume circumference degree degrees value values total sum "
    "difference product quotient ratio fraction decimal percent integer number numbers answer question "
    "choices choice option options correct following select choose label labelled labeled point points "
    "segment segments parallel perpendicular right acute obtuse isosceles equilateral hypotenuse clock "
    "time hour hours minute minutes o'clock dots count counting there how much more less than greater "
    "smallest largest maximum minimum average mean median each every color red blue green black white "
    "yellow shape shapes units unit cm m mm km kg g s therefore so thus hence we get have then first "
    "second third step solution let because since use using formula equals equal gives result final "
    "Hint: Please answer the question requiring an integer a floating-point number with one decimal "
    "place two places and provide value at end e.g. Question: Choices: Answer: reason step by step put "
    "your within boxed Solution Reasoning Let's think Note that The So Thus Therefore Hence First Next "
    "Finally Step year years apple apples student students people x y z AB BC CD DA AC BD"
).split()

_LATEX = (
    r"\boxed{",
    r"\frac{",
    r"\dfrac{",
    r"\sqrt{",
    r"\times",
    r"\cdot",
    r"\div",
    r"\pi",
    r"\angle",
    r"\triangle",
    r"\circ",
    r"^\circ",
    r"\le",
    r"\ge",
    r"\neq",
    r"\approx",
    r"\left(",
    r"\right)",
    r"\text{",
    r"\mathrm{",
    r"\sin",
    r"\cos",
    r"\tan",
    r"\log",
    r"\infty",
    r"\pm",
    r"\overline{",
    r"\parallel",
    r"\perp",
    r"\%",
    "$",
    "$$",
    "^2",
    "^3",
    "_1",
    "_2",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "=",
    "+",
    "-",
    "*",
    "/",
    "<",
    ">",
    ":",
    ";",
    ",",
    ".",
    "?",
    "!",
    "|",
)

_PHRASES = (
    "system",
    "user",
    "assistant",
    "You are a helpful assistant.",
    "Please reason step by step, and put your final answer within \\boxed{}.",
    "The answer is",
    "The final answer is",
    "Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.",
    "Hint: Please answer the question requiring an integer answer and provide the final value, e.g., 1, 2, 3, at the end.",
    "Question:",
    "Choices:",
    "Solution:",
    "How many dots are there?",
    "What time does the clock show?",
    "What is the perimeter of the rectangle?",
    "What is the area of the triangle?",
    "What is the value of the bar",
)

_SPECIAL_TEXT = (
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
    "<image>",
    "(A)",
    "(B)",
    "(C)",
    "(D)",
    "(E)",
    "A.",
    "B.",
    "C.",
    "D.",
    "E.",
    "A:",
    "B:",
    "C:",
    "D:",
    "E:",
)


def _random_number(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.5:
        return str(rng.randint(0, 1000))
    if kind < 0.8:
        return f"{rng.uniform(0, 100):.{rng.randint(1, 2)}f}"
    return rf"\frac{{{rng.randint(1, 12)}}}{{{rng.randint(2, 12)}}}"


def _problem_lines(n: int, seed: int) -> Iterator[str]:
    """Texts of the tiny world's own problems (question, choices, chain of thought, chat markup)."""
    from .problems import cot_answer, sample_problem

    rng = random.Random(f"tokenizer-corpus/{seed}")
    for _ in range(n):
        p = sample_problem(rng)
        final = p.letter if p.choices else p.answer
        yield f"system\n{rng.choice(_PHRASES[3:5])}\nuser\n<image>{p.question}\n{p.choices_text()}\nassistant\n"
        yield cot_answer(p, final)


def iter_corpus(n_lines: int = 6000, seed: int = 0) -> Iterator[str]:
    """Yield deterministic training lines: the tiny world's problem texts, then random mixes of English
    math prose, LaTeX, numbers and multiple-choice markup."""
    yield from _problem_lines(1500, seed)
    rng = random.Random(seed)
    for _ in range(n_lines):
        pieces: list[str] = []
        for _ in range(rng.randint(6, 24)):
            r = rng.random()
            if r < 0.55:
                pieces.append(rng.choice(_WORDS))
            elif r < 0.72:
                pieces.append(_random_number(rng))
            elif r < 0.88:
                pieces.append(rng.choice(_LATEX))
            elif r < 0.94:
                pieces.append(rng.choice(_SPECIAL_TEXT))
            else:
                pieces.append(rng.choice(_PHRASES))
        line = " ".join(pieces)
        form = rng.random()
        if form < 0.25:
            letters = "ABCDE"[: rng.randint(2, 5)]
            opts = " ".join(f"({c}) {_random_number(rng)}" for c in letters)
            line = f"{line}\nChoices: {opts}"
        elif form < 0.5:
            line = f"<think>\n{line}\n</think>\nThe answer is \\boxed{{{_random_number(rng)}}}."
        elif form < 0.6:
            line = f"<image>{line}"
        yield line


def placeholder_token(idx: int) -> str:
    """Name of the unreachable filler token at ``idx`` (the Qwen pre-tokenizer always splits it)."""
    return f"<|tiny_unused_{idx}|>"


def build_tokenizer_object(seed: int = 0) -> Tokenizer:
    """Train the BPE part and pad it so the Qwen added tokens sit at their real ids."""
    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TRAINED_VOCAB_SIZE,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tok.train_from_iterator(iter_corpus(seed=seed), trainer=trainer)
    vocab = tok.get_vocab()
    merges = _merges_of(tok)
    n_trained = len(vocab)
    for idx in range(n_trained, FIRST_SPECIAL_ID):
        vocab[placeholder_token(idx)] = idx
    logger.info("trained %d BPE tokens, %d placeholders", n_trained, FIRST_SPECIAL_ID - n_trained)
    padded = Tokenizer(
        models.BPE(vocab=vocab, merges=merges, unk_token=None, fuse_unk=False, byte_fallback=False)
    )
    padded.normalizer = tok.normalizer
    padded.pre_tokenizer = tok.pre_tokenizer
    padded.decoder = tok.decoder
    return padded


def _merges_of(tok: Tokenizer) -> list[tuple[str, str]]:
    import json

    model = json.loads(tok.to_str())["model"]
    return [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]


def build_hf_tokenizer(seed: int = 0, family: str = "qwen2_5_vl"):
    """Return a ``Qwen2Tokenizer`` with the family's added tokens (Qwen2.5-VL's; Qwen3-VL adds four), eos/pad
    and chat template."""
    from tokenizers import AddedToken
    from transformers import Qwen2Tokenizer

    added, chat_template = FAMILY_TOKENS[family]
    raw = build_tokenizer_object(seed)
    for content, special in added:
        at = AddedToken(content, special=special, normalized=False, lstrip=False, rstrip=False)
        if special:
            raw.add_special_tokens([at])
        else:
            raw.add_tokens([at])
    hf = Qwen2Tokenizer(
        tokenizer_object=raw,
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        errors="replace",
        clean_up_tokenization_spaces=False,
        split_special_tokens=False,
        model_max_length=131072,
        additional_special_tokens=[c for c, s in added[1:] if s],
    )
    hf.chat_template = chat_template
    check_special_ids(hf, added)
    return hf


def check_special_ids(tokenizer, added: tuple[tuple[str, bool], ...] = QWEN_ADDED_TOKENS) -> None:
    """Raise ``ValueError`` unless every Qwen added token encodes to its real id."""
    for offset, (content, _special) in enumerate(added):
        want = FIRST_SPECIAL_ID + offset
        got = tokenizer.convert_tokens_to_ids(content)
        if got != want:
            raise ValueError(f"tokenizer: {content!r} has id {got}, expected Qwen's real id {want}")
    if tokenizer.eos_token_id != 151645 or tokenizer.pad_token_id != 151643:
        raise ValueError(
            f"tokenizer: eos/pad ids are {tokenizer.eos_token_id}/{tokenizer.pad_token_id}, expected 151645/151643"
        )
