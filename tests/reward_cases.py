r"""The reward case table: (response or box content, gold, expected verdict, item fields).

A ``Case`` whose ``response`` has no ``\boxed`` / ``<answer>`` is wrapped as realistic reasoning text ending in
``\boxed{...}`` (see ``Case.full_response``); set ``raw=True`` to use the response exactly as written.
Also used by benchmarks/rewards.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    response: str
    gold: str | None
    expected: bool
    rule: str
    options: list[str] | None = None
    problem: str | None = None
    precision: int | None = None
    raw: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def full_response(self) -> str:
        if self.raw:
            return self.response
        return (
            "Let me look at the figure carefully. The quantities given are read off the diagram, and we set "
            "up the relation between them step by step.\nAfter simplifying, the result follows.\n"
            "Therefore, the final answer is \\boxed{" + self.response + "}."
        )


def _c(resp, gold, exp, rule, **kw):
    return Case(resp, gold, exp, rule, **kw)


MCQ_PROBLEM = "What is the measure of angle 2?\nChoices:\n(A) 26°\n(B) 64°\n(C) 154°\n(D) 116°"
MCQ_PROBLEM_DOTS = "Find x. Options: A. 5 B. 7.5 C. 10 D. 12.5"
MCQ_PROBLEM_LINES = "Which shape has 4 sides?\nA: triangle\nB: square\nC: circle\nD: pentagon"
MCQ_OPTS = ["14", "16", "18", "20"]
RELATION_OPTS = ["X-Y=Z", "X=Y+Z", "Y=X+Z", "X+Z=Y", "X+Y=Z"]  # MATH-V-like: gold E
WEMATH_PROBLEM = "Point A is on circle O. What is AB?\nA. 3; B. 4; C. 5; D. 6; E. No correct answer"

CASES: list[Case] = [
    # --- extraction ---------------------------------------------------------------------------
    _c(r"The answer is \boxed{5}.", "5", True, "extract", raw=True),
    _c(r"First \boxed{3}, but wait, actually \boxed{5}.", "5", True, "extract_last", raw=True),
    _c(r"First \boxed{5}, but then \boxed{3}.", "5", False, "extract_last", raw=True),
    _c(r"So \boxed{\frac{1}{2}}", "1/2", True, "extract_nested", raw=True),
    _c(r"So \boxed{\frac{\sqrt{3}}{2}}", r"\frac{\sqrt{3}}{2}", True, "extract_nested", raw=True),
    _c(r"\boxed{{{7}}}", "7", True, "extract_nested", raw=True),
    _c(r"We get \boxed {12}.", "12", True, "extract_space", raw=True),
    _c(r"We get \boxed 12.", "12", True, "extract_token", raw=True),
    _c(r"We get \fbox{12}.", "12", True, "extract_fbox", raw=True),
    _c("The answer is 5.", "5", False, "no_box", raw=True),
    _c("", "5", False, "no_box", raw=True),
    _c(r"Truncated \boxed{5", "5", False, "unclosed_box", raw=True),
    _c(r"\boxed{}", "5", False, "empty_box", raw=True),
    _c(r"\boxed{ }", "5", False, "empty_box", raw=True),
    _c("reasoning <answer>42</answer>", "42", True, "answer_tag", raw=True),
    _c("<think>hmm</think><answer> 42 </answer>", "42", True, "answer_tag", raw=True),
    _c("<answer>41</answer> then <answer>42</answer>", "42", True, "answer_tag_last", raw=True),
    _c(r"<answer>\boxed{7}</answer>", "7", True, "answer_tag_box", raw=True),
    _c(r"<answer>3</answer> and \boxed{7}", "7", True, "box_over_tag", raw=True),
    _c(r"<answer>3</answer> and \boxed{7}", "3", False, "box_over_tag", raw=True),
    _c(r"$\boxed{8}$", "8", True, "extract_dollars", raw=True),
    _c(r"\boxed{\text{(B)}}", "B", True, "extract_text_letter", raw=True),
    # --- integers, decimals, fractions ----------------------------------------------------------
    _c("5", "5", True, "int"),
    _c("-5", "-5", True, "int"),
    _c("5", "-5", False, "int"),
    _c("6", "5", False, "int"),
    _c("05", "5", True, "int"),
    _c("+5", "5", True, "int"),
    _c("5.0", "5", True, "decimal"),
    _c("5.00", "5.0", True, "decimal"),
    _c("0.5", ".5", True, "decimal"),
    _c("2.5", "2.50", True, "decimal"),
    _c("2.51", "2.5", False, "decimal_exact"),
    _c("3.14", r"3.1416", False, "decimal_exact"),
    _c("3.1416", "3.14159", False, "decimal_exact"),
    _c("1.0000001", "1", False, "decimal_exact"),
    _c(r"\frac{1}{2}", "0.5", True, "fraction"),
    _c(r"\dfrac{1}{2}", r"\frac{1}{2}", True, "fraction"),
    _c(r"\tfrac12", "1/2", True, "fraction"),
    _c("1/2", r"\frac{2}{4}", True, "fraction"),
    _c(r"-\frac{3}{4}", "-0.75", True, "fraction"),
    _c(r"\frac{-3}{4}", "-0.75", True, "fraction"),
    _c(r"\frac{1}{3}", "0.333", False, "fraction_exact"),
    _c("0.3333333", r"\frac{1}{3}", False, "fraction_exact"),
    _c(r"\frac{2}{3}", r"\frac{3}{2}", False, "fraction"),
    _c("1.5e3", "1500", True, "scientific"),
    _c(r"1.5 \times 10^{3}", "1500", True, "scientific"),
    _c(r"2\frac{1}{2}", r"\frac{5}{2}", True, "mixed_number_symbolic"),
    # --- percents, degrees, units, thousands ------------------------------------------------------
    _c(r"50\%", "50", True, "percent"),
    _c("50%", r"50\%", True, "percent"),
    _c("50", "50%", True, "percent"),
    _c("0.5", "50%", True, "percent_fraction"),
    _c("40%", "50%", False, "percent"),
    _c("12.5 percent", "12.5", True, "percent_word"),
    _c(r"30^\circ", "30", True, "degree"),
    _c(r"30^{\circ}", "30", True, "degree"),
    _c("30°", "30", True, "degree"),
    _c("30", "30°", True, "degree"),
    _c(r"30 degrees", r"30^\circ", True, "degree_word"),
    _c(r"60^\circ", "30", False, "degree"),
    _c(r"\angle 30", "30", False, "degree_not_angle_text"),
    _c("5 cm", "5", True, "unit"),
    _c(r"5\text{ cm}", "5", True, "unit"),
    _c(r"5 \mathrm{cm}", "5", True, "unit"),
    _c(r"12 m^2", "12", True, "unit"),
    _c("12 km/h", "12", True, "unit"),
    _c("7 apples", "7", True, "unit"),
    _c("6 cm", "5", False, "unit"),
    _c("2x", "2", False, "unit_not_variable"),
    _c("5 m", "5", True, "unit"),
    _c("1.5x", "15x", False, "text_not_decimal_point"),
    _c(r"\$5", "5", True, "currency"),
    _c(r"\$5.50", "5.5", True, "currency"),
    _c("1,234", "1234", True, "thousands"),
    _c("1,234,567", "1234567", True, "thousands"),
    _c("1{,}234", "1234", True, "thousands"),
    _c(r"1\,234", "1234", True, "thousands"),
    _c("1,235", "1234", False, "thousands"),
    _c("x = 5", "5", True, "assignment"),
    _c("x=5", "5", True, "assignment"),
    _c("AB = 5", "5", True, "assignment_equation_rhs"),
    _c("AB = 6", "5", False, "assignment_equation_rhs"),
    _c("y = 2x + 1", "2x+1", True, "assignment_symbolic"),
    # --- text -----------------------------------------------------------------------------------
    _c("Yes", "yes", True, "text"),
    _c(r"\text{No}", "no", True, "text"),
    _c("YES.", "Yes", True, "text"),
    _c("yes", "no", False, "text"),
    _c("north east", "North East", True, "text"),
    _c("cat", "dog", False, "text"),
    _c(r"\text{red}", "Red", True, "text"),
    _c("blue", "Red", False, "text"),
    # --- tuples and intervals ------------------------------------------------------------------
    _c("(1, 2)", "(1,2)", True, "tuple"),
    _c("(1,2)", "(2,1)", False, "tuple"),
    _c(r"(\frac{1}{2}, 3)", "(0.5, 3)", True, "tuple"),
    _c("(1, 2, 3)", "(1, 2)", False, "tuple_length"),
    _c("[1, 3)", "[1,3)", True, "interval"),
    _c("(1, 3]", "[1,3)", False, "interval"),
    _c("[1, 3]", "(1, 3)", False, "interval"),
    _c(r"(-\infty, 2)", r"(-\infty,2)", True, "interval"),
    _c(r"\{1, 2\}", r"\{1,2\}", True, "set"),
    _c("1, 2", "[1, 2]", True, "list"),
    _c("(1,2)", "1, 2", True, "list"),
    _c("((5))", "5", True, "deep_parens"),
    _c("(((((((((((5)))))))))))", "5", True, "deep_parens"),
    _c("((1, 2))", "(1, 2)", True, "deep_parens"),
    # --- symbolic (math-verify fallback) ----------------------------------------------------------
    _c(r"2\sqrt{3}", r"\sqrt{12}", True, "symbolic"),
    _c(r"x^2+2x+1", "(x+1)^2", True, "symbolic"),
    _c(r"\frac{\pi}{2}", r"\pi/2", True, "symbolic"),
    _c(r"\frac{\pi}{3}", r"\frac{\pi}{2}", False, "symbolic"),
    _c(r"3.464102", r"2\sqrt{3}", False, "symbolic_exact"),
    _c(r"\sqrt{2}/2", r"\frac{\sqrt{2}}{2}", True, "symbolic"),
    _c(r"\frac{1}{\sqrt{2}}", r"\frac{\sqrt{2}}{2}", True, "symbolic"),
    _c(r"2\pi", r"2 \pi", True, "symbolic"),
    _c(r"4\pi", r"2\pi", False, "symbolic"),
    _c(r"\sqrt{4}", "2", True, "symbolic"),
    _c(r"2^{10}", "1024", True, "symbolic"),
    _c(r"a+b", r"b+a", True, "symbolic"),
    _c(r"\log_2 8", "3", True, "symbolic"),
    _c(r"x^2+y^2", r"y^2+x^2", True, "symbolic_powers"),
    _c(r"a^2 b^2", r"(ab)^2", True, "symbolic_powers"),
    _c(r"x^{2}+y^{3}", r"x^{3}+y^{2}", False, "symbolic_powers"),
    _c(r"(x^2)^3", r"x^6", True, "symbolic_powers"),
    _c(r"e^{x^2}", r"e^{x^{2}}", True, "symbolic_powers"),
    # --- precision (MathVista) -------------------------------------------------------------------
    _c("1.53", "1.5", True, "precision", precision=1),
    _c("1.46", "1.5", True, "precision", precision=1),
    _c("1.44", "1.5", False, "precision", precision=1),
    _c("1.53", "1.5", False, "no_precision"),
    _c("3.142", "3.14", True, "precision", precision=2),
    _c(r"\frac{1}{3}", "0.33", True, "precision", precision=2),
    _c("2", "2.0", True, "precision", precision=1),
    # --- multiple choice: letter in any dress, gold a letter ----------------------------------------
    _c("B", "B", True, "mcq_letter", options=MCQ_OPTS),
    _c("(B)", "B", True, "mcq_letter", options=MCQ_OPTS),
    _c("B.", "B", True, "mcq_letter", options=MCQ_OPTS),
    _c("B)", "B", True, "mcq_letter", options=MCQ_OPTS),
    _c("B: 16", "B", True, "mcq_letter_content", options=MCQ_OPTS),
    _c("B. 16", "B", True, "mcq_letter_content", options=MCQ_OPTS),
    _c(r"\text{B}", "B", True, "mcq_letter", options=MCQ_OPTS),
    _c(r"\text{(B)}", "B", True, "mcq_letter", options=MCQ_OPTS),
    _c(r"\textbf{B}", "B", True, "mcq_letter", options=MCQ_OPTS),
    _c("Option B", "B", True, "mcq_letter", options=MCQ_OPTS),
    _c("option (B)", "B", True, "mcq_letter", options=MCQ_OPTS),
    _c("Answer: B", "B", True, "mcq_letter", options=MCQ_OPTS),
    _c("The correct answer is B", "B", True, "mcq_letter", options=MCQ_OPTS),
    _c("b", "B", True, "mcq_lowercase", options=MCQ_OPTS),
    _c("(b)", "B", True, "mcq_lowercase", options=MCQ_OPTS),
    _c("[B]", "B", True, "mcq_letter", options=MCQ_OPTS),
    _c("C", "B", False, "mcq_letter", options=MCQ_OPTS),
    _c("(C)", "B", False, "mcq_letter", options=MCQ_OPTS),
    _c("16", "B", True, "mcq_content", options=MCQ_OPTS),
    _c("18", "B", False, "mcq_content", options=MCQ_OPTS),
    _c("16.0", "B", True, "mcq_content", options=MCQ_OPTS),
    _c("B, C", "B", False, "mcq_several", options=MCQ_OPTS),
    _c("B and C", "B", False, "mcq_several", options=MCQ_OPTS),
    _c("(B)(C)", "B", False, "mcq_several", options=MCQ_OPTS),
    _c("BC", "B", False, "mcq_several", options=MCQ_OPTS),
    _c("B or D", "B", False, "mcq_several", options=MCQ_OPTS),
    _c("B: 18", "B", False, "mcq_letter_content_conflict", options=MCQ_OPTS),
    _c("E", "B", False, "mcq_letter_out_of_range", options=MCQ_OPTS),
    _c("B", "(B)", True, "mcq_gold_dress", options=MCQ_OPTS),
    _c("B", "B.", True, "mcq_gold_dress", options=MCQ_OPTS),
    # --- gold letter + content ("C. 154°") ---------------------------------------------------------
    _c("C", r"C. 154°", True, "mcq_gold_both"),
    _c("(C)", r"C. 154°", True, "mcq_gold_both"),
    _c("154°", r"C. 154°", True, "mcq_gold_both_content"),
    _c("154", r"C. 154°", True, "mcq_gold_both_content"),
    _c(r"154^\circ", r"C. 154°", True, "mcq_gold_both_content"),
    _c("D", r"C. 154°", False, "mcq_gold_both"),
    _c("26", r"C. 154°", False, "mcq_gold_both_content"),
    _c("C", r"C: 154°", True, "mcq_gold_both"),
    _c("C", r"(C) 154°", True, "mcq_gold_both"),
    # --- options parsed from the problem text -----------------------------------------------------
    _c("C", "C", True, "mcq_problem", problem=MCQ_PROBLEM),
    _c("154°", "C", True, "mcq_problem_content", problem=MCQ_PROBLEM),
    _c(r"154^{\circ}", "C", True, "mcq_problem_content", problem=MCQ_PROBLEM),
    _c("116", "C", False, "mcq_problem_content", problem=MCQ_PROBLEM),
    _c("C", "154°", True, "mcq_problem_gold_text", problem=MCQ_PROBLEM),
    _c("(C)", "154", True, "mcq_problem_gold_text", problem=MCQ_PROBLEM),
    _c("D", "154°", False, "mcq_problem_gold_text", problem=MCQ_PROBLEM),
    _c("10", "C", True, "mcq_problem_dots", problem=MCQ_PROBLEM_DOTS),
    _c("7.5", "C", False, "mcq_problem_dots", problem=MCQ_PROBLEM_DOTS),
    _c("C", "10", True, "mcq_problem_dots_gold_text", problem=MCQ_PROBLEM_DOTS),
    _c("square", "B", True, "mcq_problem_lines", problem=MCQ_PROBLEM_LINES),
    _c("Square", "B", True, "mcq_problem_lines", problem=MCQ_PROBLEM_LINES),
    _c("circle", "B", False, "mcq_problem_lines", problem=MCQ_PROBLEM_LINES),
    _c("C", "C", True, "mcq_wemath", problem=WEMATH_PROBLEM),
    _c("5", "C", True, "mcq_wemath_content", problem=WEMATH_PROBLEM),
    _c("E", "E", True, "mcq_wemath", problem=WEMATH_PROBLEM),
    _c("No correct answer", "E", True, "mcq_wemath_content", problem=WEMATH_PROBLEM),
    # --- options given as extra_info["options"], gold the option text (MathVista) -------------------
    _c("B", "16", True, "mcq_options_gold_text", options=MCQ_OPTS),
    _c("16", "16", True, "mcq_options_gold_text", options=MCQ_OPTS),
    _c("A", "16", False, "mcq_options_gold_text", options=MCQ_OPTS),
    _c("(B) 16", "16", True, "mcq_options_gold_text", options=MCQ_OPTS),
    _c("B", "(B) 16", True, "mcq_options_gold_both", options=MCQ_OPTS),
    _c("A", "Yes", True, "mcq_options_text", options=["Yes", "No"]),
    _c("no", "Yes", False, "mcq_options_text", options=["Yes", "No"]),
    _c("yes", "Yes", True, "mcq_options_text", options=["Yes", "No"]),
    # --- a letter gold with no options anywhere -----------------------------------------------------
    _c("A", "A", True, "letter_only"),
    _c("a", "A", True, "letter_only_lower"),
    _c("B", "A", False, "letter_only"),
    _c("16", "A", False, "letter_gold_no_options"),
    # --- letter-like golds: an option letter only when bare or marked off (the rule in choices.split_gold) ---
    _c("A = 5", "A = 4", False, "letterlike_gold"),
    _c(r"C = 60^\circ", r"C = 30^\circ", False, "letterlike_gold"),
    _c(r"A \cup B", r"A \cap B", False, "letterlike_gold"),
    _c("B 7", "B 9", False, "letterlike_gold"),
    _c("D = (0, 1.5)", "D = (0, 1)", False, "letterlike_gold"),
    _c("A", "A = 4", False, "letterlike_gold"),
    _c("C", r"C = 30^\circ", False, "letterlike_gold"),
    _c("D", "D = (0, 1)", False, "letterlike_gold"),
    _c("A", r"A \cap B", False, "letterlike_gold"),
    _c("(0, 1)", "D = (0, 1)", True, "letterlike_gold_value"),
    _c("A = 4", "A = 4", True, "letterlike_gold_value"),
    _c("4", "A = 4", True, "letterlike_gold_value"),
    _c(r"30^\circ", r"C = 30^\circ", True, "letterlike_gold_value"),
    _c(r"A \cap B", r"A \cap B", True, "letterlike_gold_value"),
    _c("A = 4", "A", False, "letterlike_pred", options=MCQ_OPTS),
    _c("B", "B 16", True, "mcq_gold_spaced", options=MCQ_OPTS),
    # --- equations and relations -------------------------------------------------------------------
    _c("y=2x+1", "2x-y+1=0", True, "equation_keeps_lhs"),
    _c("y=2x+2", "2x-y+1=0", False, "equation_keeps_lhs"),
    _c("Z", "X+Y=Z", False, "equation_rhs_not_symbol"),
    _c("0", "2x+4y-3=0", False, "equation_rhs_not_value"),
    _c("1", "|AB|=1", True, "equation_named_quantity"),
    _c(r"\frac{1}{\sqrt{6}}", r"\frac{NO}{BO}=\frac{1}{\sqrt{6}}", True, "equation_named_quantity"),
    _c("x^2=4", "x=2", False, "equation_same_locus"),
    _c("x^2/16 + y^2/12 = 1/4", "x^2/4 + y^2/3 = 1", True, "equation_same_locus"),
    _c("Z", "E", False, "mcq_relation_option", options=RELATION_OPTS),
    _c("X+Y=Z", "E", True, "mcq_relation_option", options=RELATION_OPTS),
    # --- matrices: row breaks with or without a space -----------------------------------------------
    _c(r"\begin{pmatrix}1 & 2 \\ 3 & 4\end{pmatrix}", r"\begin{pmatrix}1 & 2 \\3 & 4\end{pmatrix}", True, "matrix_row_break"),
    _c(r"\begin{pmatrix}1 \\ 2\end{pmatrix}", r"\begin{pmatrix}1\\2\end{pmatrix}", True, "matrix_row_break"),
    _c(r"\begin{pmatrix}1 \\ 3\end{pmatrix}", r"\begin{pmatrix}1\\2\end{pmatrix}", False, "matrix_row_break"),
    # --- decimal commas and digit groups -------------------------------------------------------------
    _c("0,111", "0.111", True, "comma_decimal"),
    _c("1,22", "1.22", True, "comma_decimal"),
    _c("1000,99", "1000.99", True, "comma_decimal"),
    _c("0,5", "5", False, "comma_decimal"),
    _c("32, 349", "32349", False, "comma_list_not_number"),
    _c(r"32,\! 349", "32349", True, "thousands_latex_mark"),
    # --- lists and sets ------------------------------------------------------------------------------
    _c("10, 4, -2", "4, 10, -2", True, "list_unordered"),
    _c("10, 4, 2", "4, 12, 2", False, "list_unordered"),
    _c(r"\{2, 1\}", r"\{1, 2\}", True, "set_unordered"),
    _c("{1,3}", "(1,3)", True, "list_grouping_braces"),
    _c(r"\{1,3\}", "(1,3)", False, "set_not_tuple"),
    # --- prose in the box ----------------------------------------------------------------------------
    _c(r"1. Ruth needs \$13.00 for the trip. 2. The largest city is Tokyo.", "2", False, "prose_with_number"),
    _c(r"\text{the answer is } 5 \text{ because it fits}", "5", False, "prose_with_number"),
    _c(r"\sqrt{ab} + bc \cdot ca", r"ca \cdot bc + \sqrt{ba}", True, "symbolic_not_prose"),
    # --- never a free point ------------------------------------------------------------------------
    _c("None", "None", False, "none_vs_none"),
    _c(r"\text{None}", "None", False, "none_vs_none"),
    _c("", "", False, "empty_gold", raw=True),
    _c(r"\boxed{5}", "", False, "empty_gold", raw=True),
    _c(r"\boxed{5}", None, False, "null_gold", raw=True),
    _c(r"\boxed{5}", r"\frac{1}{", False, "unparseable_gold", raw=True),
    _c(r"\boxed{null}", "null", False, "none_vs_none", raw=True),
    _c(r"\boxed{}", "A", False, "empty_box_mcq", raw=True, options=MCQ_OPTS),
    _c("No answer here.", "None", False, "no_box_none_gold", raw=True),
    # --- pathological inputs (0, quickly) --------------------------------------------------------
    _c("9^{9^{9}}", "5", False, "pathological_tower"),
    _c("9**9**9", r"\frac{1}{2}", False, "pathological_tower"),
    _c("100000000!", r"\frac{1}{2}", False, "pathological_factorial"),
    _c("10^{1000000}", "5", False, "pathological_power"),
    _c("1e999999999", "5", False, "pathological_exponent"),
    _c("9" * 5000, "5", False, "pathological_long_number"),
    _c("x+" * 40000 + "1", "5", False, "pathological_long_box"),
    _c("(" * 500 + "1" + ")" * 500, "2", False, "pathological_deep"),
    _c(r"\sum_{k=1}^{n} k", r"\frac{n(n+1)}{2}", False, "pathological_sum_subscript"),
    _c(r"\int_0^1 x\,dx", r"\frac{1}{2}", False, "pathological_integral_subscript"),
    _c(r"\lim_{x\to 0} \frac{\sin x}{x}", "1", False, "pathological_limit_subscript"),
    _c(r"\prod_{k=1}^{3} k", "6", False, "pathological_product_subscript"),
    _c("{" * 500 + "1" + "}" * 500, "2", False, "pathological_deep_braces"),
]

REASONING = "The triangle has angles that sum to 180 degrees, so the missing angle is 180 - 50 - 60 = 70. "
# (response, format_ok expected, rule)
FORMAT_CASES: list[tuple[str, bool, str]] = [
    (REASONING + r"So the answer is \boxed{70}.", True, "reasoning_then_box"),
    ("<think>" + REASONING + r"</think> The answer is \boxed{70}.", True, "think_then_box"),
    (REASONING + "<answer>70</answer>", True, "reasoning_then_answer_tag"),
    (REASONING + r"<answer>\boxed{70}</answer>", True, "box_inside_answer_tag"),
    (r"\boxed{70}", False, "no_reasoning"),
    (REASONING + r"\boxed{70} \boxed{70}", False, "repeated_boxes"),
    (REASONING + r"\boxed{70}" + " and more" * 5 + r" \boxed{71}", False, "repeated_boxes"),
    ("<think>" + REASONING + "</think><think>again</think>" + r"\boxed{70}", False, "repeated_think"),
    ("<think><think>" + REASONING + r"</think></think>\boxed{70}", False, "nested_think"),
    (REASONING + "<answer>70</answer><answer>70</answer>", False, "repeated_answer_tags"),
    (REASONING + r"\boxed{}", False, "empty_box"),
    (REASONING + r"\boxed{70", False, "unclosed_box"),
    (REASONING, False, "no_answer"),
    ("<think>" + REASONING + r"\boxed{70}</think>", False, "answer_inside_think"),
    (REASONING + r"\boxed{70}" + " trailing words" * 40, False, "long_tail"),
    ("</think>" + REASONING + r"<think>\boxed{70}", False, "think_misplaced"),
    (REASONING + r"<answer>3</answer> \boxed{70}", False, "box_outside_answer_tag"),
]
