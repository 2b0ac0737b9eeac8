"""A notebook's definitions as a module, without running it: syntax problems named, the
definitions, imports and constants kept, everything else dropped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from notebook_support import (
    CORRECT_NOTEBOOK,
    NOTEBOOKS,
    SIX,
    definitions_from,
    markers,
    rel_error,
    run_module,
    write_notebook,
)
from support import notebook_with_module

from grader.submission.extract import extract_module, syntax_problem
from grader.submission.notebook import Cell, read_notebook

# syntax_problem --------------------------------------------------------------------------


def test_python2_print_names_the_cell_and_the_line() -> None:
    nb = read_notebook(NOTEBOOKS / "python2.ipynb")
    assert [syntax_problem(cell) for cell in nb.cells[:4]] == [None] * 4
    # Cell 5 is the seed's affine_forward test; its line 13 is the first print.
    message = syntax_problem(nb.cells[4]) or ""
    assert message.startswith(
        "cell 5, line 13: syntax error in `print 'Testing affine_forward function:'` ("
    )
    assert message.endswith(
        "; this looks like Python 2 code, and the grader runs Python 3. "
        "Hint: call print with parentheses, print(...)."
    )


@pytest.mark.parametrize(
    ("source", "start", "hint"),
    [
        (
            "try:\n    pass\nexcept ValueError, e:\n    pass\n",
            "cell 7, line 3: syntax error in `except ValueError, e:` (",
            "write `except Error as name:`",
        ),
        ("x = 1\ny = `x`\n", 'cell 7, line 2: syntax error in "y = `x`" (', "write repr(x)"),
        (
            "raise ValueError, 'no'\n",
            "cell 7, line 1: syntax error in `raise ValueError, 'no'` (",
            "write `raise Error('message')`",
        ),
    ],
)
def test_other_python2_constructs(source: str, start: str, hint: str) -> None:
    message = syntax_problem(Cell(7, source, source)) or ""
    assert message.startswith(start)
    assert f"this looks like Python 2 code, and the grader runs Python 3. Hint: {hint}" in message


@pytest.mark.parametrize(
    ("source", "start"),
    [
        ("def f(:\n    pass\n", "cell 7, line 1: syntax error in `def f(:` ("),
        ("s = '`' +\n", "cell 7, line 1: syntax error in \"s = '`' +\" ("),
        ("def f():\nreturn 1\n", "cell 7, line 2: IndentationError in `return 1` ("),
    ],
)
def test_python3_syntax_errors_are_not_called_python2(source: str, start: str) -> None:
    message = syntax_problem(Cell(7, source, source)) or ""
    assert message.startswith(start)
    assert message.endswith(").")
    assert "Python 2" not in message


def test_code_that_compiles_has_no_problem() -> None:
    for source in ("get_ipython().system('ls')\n", "await something()\n", ""):
        assert syntax_problem(Cell(1, source, source)) is None


# extract_module --------------------------------------------------------------------------


def test_correct_inline_keeps_definitions_imports_and_constants_only() -> None:
    source, warnings = extract_module(read_notebook(CORRECT_NOTEBOOK))
    assert warnings == ()
    # Cell 2 line 2 is the numpy import; cell 4 lines 2-4 and cell 12 line 1 are the test
    # cells' constants; the rest are the six definitions, each opening its cell.
    assert markers(source) == [
        (2, 2), (3, 1), (4, 2), (4, 3), (4, 4), (5, 1), (7, 1), (8, 1), (10, 1), (11, 1), (12, 1),
    ]  # fmt: skip
    assert (
        "try:\n    import numpy as np\nexcept Exception as _exc:\n"
        "    __layergrade_failed_imports__.append((2, 2, _exc))\n" in source
    )
    for dropped in ("print(", "get_ipython", "matplotlib", "autoreload", "random", "linspace"):
        assert dropped not in source
    namespace = run_module(source)
    assert all(callable(namespace[name]) for name in SIX)
    # The later of the two `num_inputs` constants, and cell 4's shape.
    assert namespace["num_inputs"] == 50
    assert namespace["input_shape"] == (4, 5, 6)


def test_extracted_affine_forward_reproduces_the_published_output() -> None:
    source, _ = extract_module(read_notebook(CORRECT_NOTEBOOK))
    affine_forward = run_module(source)["affine_forward"]
    x = np.linspace(-0.1, 0.5, num=240).reshape(2, 4, 5, 6)
    w = np.linspace(-0.2, 0.3, num=360).reshape(120, 3)
    b = np.linspace(-0.3, 0.1, num=3)
    out, _ = affine_forward(x, w, b)
    correct_out = np.array(
        [[1.49834967, 1.70660132, 1.91485297], [3.25553199, 3.5141327, 3.77273342]]
    )
    assert rel_error(out, correct_out) < 1e-8


def test_each_statement_is_copied_after_a_comment_naming_its_cell_and_line() -> None:
    source, _ = extract_module(read_notebook(CORRECT_NOTEBOOK))
    lines = source.splitlines()
    at = lines.index("# cell 3, line 1")
    assert lines[at + 1] == "def affine_forward(x, w, b):"
    assert lines[lines.index("# cell 12, line 1") + 1] == "num_classes, num_inputs = 10, 50"
    assert (
        lines[0] == "# Imports, definitions and constants of correct_inline.ipynb, in cell order."
    )


@pytest.mark.parametrize(
    ("name", "kept", "dropped"),
    [
        # 1 setup, 2 calls affine_forward before it exists, 3-5 the definitions.
        ("raises_early.ipynb", [(1, 1)] + definitions_from(3), ["np.ones((5, 3))"]),
        # 1 setup, 2-3 affine and relu, 4 the endless loop, 5 the losses.
        (
            "infinite_loop.ipynb",
            [(1, 1), (2, 1), (2, 8), (3, 1), (3, 8), (5, 1), (5, 14)],
            ["while True"],
        ),
        # 1 imports, 2 the dataset (its path constant is kept), 3-5 the definitions.
        (
            "missing_dataset.ipynb",
            [(1, 1), (1, 2), (2, 1)] + definitions_from(3),
            ["open(", "pickle.load", "X_train"],
        ),
        # 1 setup, 2 ten megabytes of output, 3-5 the definitions.
        ("huge_output.ipynb", [(1, 1)] + definitions_from(3), ["print("]),
        # 1 heading, 2 setup, 3 affine, 4 markdown, 5 relu, 6 losses.
        ("v3.ipynb", [(2, 1), (3, 1), (3, 8), (5, 1), (5, 8), (6, 1), (6, 14)], []),
    ],
)
def test_definitions_survive_the_cells_that_fail(
    name: str, kept: list[tuple[int, int]], dropped: list[str]
) -> None:
    source, warnings = extract_module(read_notebook(NOTEBOOKS / name))
    assert warnings == ()
    assert markers(source) == kept
    for text in dropped:
        assert text not in source
    namespace = run_module(source)
    assert all(callable(namespace[fn]) for fn in SIX)


def test_missing_dataset_keeps_the_path_constant() -> None:
    source, _ = extract_module(read_notebook(NOTEBOOKS / "missing_dataset.ipynb"))
    assert run_module(source)["cifar10_dir"] == "cs231n/datasets/cifar-10-batches-py"


def test_python2_cell_is_skipped_with_a_warning() -> None:
    source, warnings = extract_module(read_notebook(NOTEBOOKS / "python2.ipynb"))
    assert len(warnings) == 1
    assert warnings[0].startswith("cell 5, line 13: syntax error in `print 'Testing")
    assert "this looks like Python 2 code, and the grader runs Python 3" in warnings[0]
    assert warnings[0].endswith(" Cell 5 was skipped.")
    # Cells 2-4 hold the definitions; cell 5's constants are gone with it.
    assert markers(source) == [(1, 1)] + definitions_from(2)
    namespace = run_module(source)
    assert all(callable(namespace[fn]) for fn in SIX)


def test_tampering_is_dropped_and_the_wrong_functions_kept() -> None:
    source, warnings = extract_module(read_notebook(NOTEBOOKS / "tampering.ipynb"))
    assert warnings == ()
    for text in ("allclose", "np.max =", "/etc/shadow", "open(", "listdir"):
        assert text not in source
    namespace = run_module(source)
    out, _ = namespace["affine_forward"](np.ones((2, 3)), np.ones((3, 4)), np.ones(4))
    assert out.shape == (2, 4) and not out.any()
    assert np.allclose.__name__ == "allclose" and np.max.__name__ == "max"


def test_no_functions_gives_a_module_without_them() -> None:
    source, warnings = extract_module(read_notebook(NOTEBOOKS / "no_functions.ipynb"))
    assert warnings == ()
    assert markers(source) == [(2, 1)]
    namespace = run_module(source)
    assert not any(name in namespace for name in SIX)


def test_imports_module_imports_the_layers_beside_it(tmp_path: Path) -> None:
    folder = notebook_with_module(tmp_path)
    source, warnings = extract_module(read_notebook(folder / "notebook.ipynb"))
    assert warnings == ()
    assert markers(source) == [(2, 1), (2, 2), (3, 2), (3, 3), (3, 4), (5, 1)]
    assert (
        "try:\n    from cs231n.layers import *\nexcept Exception as _exc:\n"
        "    __layergrade_failed_imports__.append((2, 2, _exc))\n" in source
    )
    # Run apart from the tests, whose own imports must not meet this cs231n package.
    script = "import json, sys; ns = {}; exec(sys.stdin.read(), ns); print(json.dumps(list(ns)))"
    proc = subprocess.run(
        [sys.executable, "-c", script], input=source, cwd=folder, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert set(SIX) <= set(json.loads(proc.stdout))


def test_later_definitions_win_and_are_warned_about(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "twice.ipynb",
        (
            "code",
            "def f():\n    return 1\n\n\ndef g():\n    return 'a'\n\n\ndef g():\n    return 'b'",
        ),
        ("markdown", "Try again:"),
        ("code", "x = 2"),
        ("code", "def f():\n    return 2"),
    )
    source, warnings = extract_module(read_notebook(path))
    assert warnings == (
        "f is defined in cells 1 and 4; the later definition is graded.",
        "g is defined 2 times in cell 1; the later definition is graded.",
    )
    namespace = run_module(source)
    assert namespace["f"]() == 2
    assert namespace["g"]() == "b"


def test_three_definitions(tmp_path: Path) -> None:
    defs = [("code", f"def h():\n    return {n}") for n in (1, 2, 3)]
    source, warnings = extract_module(read_notebook(write_notebook(tmp_path / "h.ipynb", *defs)))
    assert warnings == ("h is defined in cells 1, 2 and 3; the last definition is graded.",)
    assert run_module(source)["h"]() == 3


def test_which_assignments_are_constant(tmp_path: Path) -> None:
    cell = "\n".join(
        [
            "a = 1",  # 1 kept
            "b = -2.5",  # 2 kept
            "c = (1, 'two', None)",  # 3 kept
            "d = {'k': [1, 2], 'j': (3,)}",  # 4 kept
            "e = 2 ** 10 - 1",  # 5 kept
            "f = 1 / 0",  # 6 a literal zero divisor
            "g = len('abc')",  # 7 a call
            "h = [i for i in range(3)]",  # 8 a comprehension
            "plt.rcParams['figure.figsize'] = (10.0, 8.0)",  # 9 not a plain name
            "np.allclose = True",  # 10 not a plain name
            "j, k = 3, 4",  # 11 kept
            "m: int = 5",  # 12 kept
            "n: Tensor = 6",  # 13 an annotation naming the notebook's own names
            "o = 'a' * 3",  # 14 not arithmetic on numbers
            "p += 1",  # 15 needs p
            "q = r = 7.0",  # 16 kept
            "s = x",  # 17 a name
        ]
    )
    path = write_notebook(tmp_path / "constants.ipynb", ("code", cell))
    source, _ = extract_module(read_notebook(path))
    assert markers(source) == [(1, line) for line in (1, 2, 3, 4, 5, 11, 12, 16)]
    namespace = run_module(source)
    assert {k: namespace[k] for k in "abcdejkmqr"} == {
        "a": 1,
        "b": -2.5,
        "c": (1, "two", None),
        "d": {"k": [1, 2], "j": (3,)},
        "e": 1023,
        "j": 3,
        "k": 4,
        "m": 5,
        "q": 7.0,
        "r": 7.0,
    }


def test_statements_sharing_a_line_are_copied_apart(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "semi.ipynb", ("code", "import os; x = f(); y = 3"))
    source, _ = extract_module(read_notebook(path))
    assert source.endswith(
        "\n# cell 1, line 1\ntry:\n    import os\n"
        "except Exception as _exc:\n    __layergrade_failed_imports__.append((1, 1, _exc))\n"
        "\n# cell 1, line 1\ny = 3\n"
    )


def test_a_missing_package_does_not_stop_the_module(tmp_path: Path) -> None:
    imports = "import numpy as np\nfrom no_such_package.sub import (\n    thing,\n)\n"
    path = write_notebook(tmp_path / "missing.ipynb", ("code", imports + "def f():\n    return 1"))
    source, _ = extract_module(read_notebook(path))
    assert (
        "# cell 1, line 2\ntry:\n    from no_such_package.sub import (\n        thing,\n    )\n"
        "except Exception as _exc:\n    __layergrade_failed_imports__.append((1, 2, _exc))\n"
    ) in source
    namespace = run_module(source)
    assert namespace["f"]() == 1
    ((cell, line, exc),) = namespace["__layergrade_failed_imports__"]
    assert (cell, line, type(exc)) == (1, 2, ModuleNotFoundError)


def test_decorators_and_classes_are_kept_whole(tmp_path: Path) -> None:
    cell = (
        "import functools\n\n"
        "@functools.lru_cache(maxsize=None)\ndef double(x):\n    return 2 * x\n\n"
        "class Layer:\n    scale = 3\n"
    )
    source, _ = extract_module(read_notebook(write_notebook(tmp_path / "d.ipynb", ("code", cell))))
    assert markers(source) == [(1, 1), (1, 3), (1, 7)]
    assert "# cell 1, line 3\n@functools.lru_cache(maxsize=None)\ndef double(x):\n" in source
    namespace = run_module(source)
    assert namespace["double"](4) == 8
    assert namespace["Layer"].scale == 3


def test_future_imports_open_the_module(tmp_path: Path) -> None:
    cell = "from __future__ import annotations\n\ndef f(x: Undefined) -> Undefined:\n    return x"
    source, _ = extract_module(read_notebook(write_notebook(tmp_path / "f.ipynb", ("code", cell))))
    assert source.splitlines()[1] == "from __future__ import annotations"
    assert markers(source) == [(1, 3)]
    assert run_module(source)["f"](5) == 5


def test_definitions_under_a_cell_magic_are_warned_about(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "magic.ipynb",
        ("code", "%%time\ndef f():\n    return 1\n\n\nclass C:\n    pass"),
        ("code", "%%capture\nprint('quiet')"),
    )
    source, warnings = extract_module(read_notebook(path))
    assert warnings == (
        "cell 1 runs under %%time, so f, C cannot be graded without running the notebook. "
        "Hint: delete the %%time line.",
    )
    assert markers(source) == []


def test_a_line_break_in_the_file_name_stays_in_the_comment(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "odd\nx = 1.ipynb", ("code", "y = 2"))
    source, _ = extract_module(read_notebook(path))
    assert source.splitlines()[0] == (
        "# Imports, definitions and constants of odd x = 1.ipynb, in cell order."
    )
    assert "x" not in run_module(source)


def test_windows_line_endings_are_kept(tmp_path: Path) -> None:
    cell = "x = 1\r\ndef f():\r\n    return x\r\n"
    source, _ = extract_module(read_notebook(write_notebook(tmp_path / "w.ipynb", ("code", cell))))
    assert source.endswith(
        "# cell 1, line 1\nx = 1\n\n# cell 1, line 2\ndef f():\r\n    return x\r\n"
    )
    assert run_module(source)["f"]() == 1


def test_a_statements_text_is_sliced_exactly_as_the_ast_module_would() -> None:
    import ast

    from grader.submission.extract import Lines, segment

    source = (
        "import numpy as np; x = 1\n"
        "def f(a,\n      b='é☃'):\n    return a\n"
        "y = {'k': [1,\n      2]}; z = 'π'\r\n"
        "class C: pass\n"
    )
    lines = Lines.of(source)
    for node in ast.parse(source).body:
        assert segment(lines, node) == ast.get_source_segment(source, node), ast.dump(node)


def test_extraction_reads_a_cell_a_bounded_number_of_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Linear in the cell's length: 20,000 statements once took ten minutes, because each
    one's text was found by splitting the whole cell again."""
    import ast

    from grader.submission import extract

    source = "".join(f"x{i} = {i}\n" for i in range(2000)) + "import os\ndef f():\n    pass\n"
    path = write_notebook(tmp_path / "long.ipynb", ("code", source))
    read: list[int] = []
    original = extract.split_lines

    def counting(text: str) -> list[str]:
        read.append(len(text))
        return original(text)

    original_segment = ast.get_source_segment

    def counting_segment(text: str, node: ast.AST, **options: bool) -> str | None:
        read.append(len(text))  # it splits the whole text into lines at every call
        return original_segment(text, node, **options)

    monkeypatch.setattr(extract, "split_lines", counting)
    monkeypatch.setattr(ast, "get_source_segment", counting_segment)
    module, _ = extract_module(read_notebook(path))
    assert "x1999 = 1999" in module and "def f():" in module
    assert sum(read) <= 2 * len(source), f"{sum(read)} characters split for a cell of {len(source)}"


def test_a_cell_too_deep_for_the_compiler_is_named_not_fatal() -> None:
    source = "x = " + "-" * 15000 + "1\n"  # compiling it exhausts memory, not recursion
    message = syntax_problem(Cell(3, source, source)) or ""
    assert message.startswith("cell 3 cannot be compiled")
