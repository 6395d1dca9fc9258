"""kseg's subpackages form a layered graph: none imports one that imports it back.

The walk is static (``ast``), over every module, and counts imports inside
functions too: a lazy import hides a cycle from Python's import machinery,
not from the design. Nodes are the subpackages (``kseg.training``), the
top-level private modules (``kseg._io``) and the package root ``kseg``
(whose ``__init__`` imports the subpackages that register Keras objects).
The same walk runs inside every subpackage, one level down: its modules
(``kseg.inference.predictor``) must not import each other in a circle either,
its ``__init__`` being the node named after the package.
``importlib.import_module`` is followed when its name is a literal; the
root's lazy ``__getattr__`` (``import_module(f"kseg.{name}")``) is the
package's front door for users, not a dependency, and is not.
"""

import ast
from pathlib import Path

import pytest

KSEG_ROOT = Path(__file__).resolve().parents[1] / "kseg"


def _node_names(package_dir):
    """Subpackage and top-level module names directly under ``package_dir``."""
    names = {p.name for p in package_dir.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    names |= {p.stem for p in package_dir.glob("*.py") if p.stem != "__init__"}
    return names


def _node_of(module_path, package_dir, root):
    relative = module_path.relative_to(package_dir)
    return root if relative.parts == ("__init__.py",) else relative.parts[0].removesuffix(".py")


def _absolute(node, module_path, package_dir, root):
    """The dotted module an ``ImportFrom`` names, relative imports resolved."""
    if not node.level:
        return node.module or ""
    package = [*root.split("."), *module_path.relative_to(package_dir).with_suffix("").parts][:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _targets(tree, module_path, package_dir, root, names):
    """``(node name, line)`` for every import of ``root.<something>`` in ``tree``."""
    prefix = root.split(".")

    def resolve(dotted, imported=()):
        parts = dotted.split(".")
        if parts[: len(prefix)] != prefix:
            return []
        if len(parts) > len(prefix):
            return [parts[len(prefix)]]
        # `import kseg` or `from kseg import a, b`: a name that is a subpackage or
        # module is that node; anything else comes from the root's __init__.
        return [name if name in names else root for name in imported] or [root]

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found += [(t, node.lineno) for t in resolve(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            dotted = _absolute(node, module_path, package_dir, root)
            found += [(t, node.lineno) for t in resolve(dotted, [a.name for a in node.names])]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found += [(t, node.lineno) for t in resolve(node.args[0].value)]
    return found


def import_graph(package_dir, root=None):
    """``{node: {imported node: [(file, line), ...]}}`` of the package at ``package_dir``
    (dotted name ``root``, default its folder name)."""
    package_dir = Path(package_dir)
    root = root or package_dir.name
    names = _node_names(package_dir)
    graph = {name: {} for name in names | {root}}
    for path in sorted(package_dir.rglob("*.py")):
        source = _node_of(path, package_dir, root)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for target, line in _targets(tree, path, package_dir, root, names):
            if target != source:
                where = path.relative_to(package_dir.parents[len(root.split(".")) - 1]).as_posix()
                graph[source].setdefault(target, []).append((where, line))
    return graph


def find_cycle(graph):
    """One cycle as a list of nodes ``[a, b, ..., a]``, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def describe(graph, cycle):
    lines = [" -> ".join(cycle)]
    for a, b in zip(cycle, cycle[1:]):
        where = ", ".join(f"{f}:{n}" for f, n in graph[a][b][:3])
        lines.append(f"  {a} imports {b} at {where}")
    return "\n".join(lines)


def test_kseg_subpackages_have_no_import_cycle():
    graph = import_graph(KSEG_ROOT)
    assert {"training", "inference", "export", "models", "layers"} <= set(graph)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle between kseg subpackages:\n" + describe(graph, cycle)


def _subpackages(package_dir, root):
    for init in sorted(package_dir.rglob("__init__.py")):
        if init.parent != package_dir:
            parts = init.parent.relative_to(package_dir).parts
            yield init.parent, ".".join([root, *parts])


@pytest.mark.parametrize("package_dir, root", list(_subpackages(KSEG_ROOT, "kseg")), ids=lambda v: str(v))
def test_modules_inside_each_subpackage_have_no_import_cycle(package_dir, root):
    graph = import_graph(package_dir, root)
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle between the modules of {root}:\n" + describe(graph, cycle)


def test_the_training_workflow_sits_above_training_and_inference():
    graph = import_graph(KSEG_ROOT)
    assert {"training", "inference", "export", "data", "models"} <= set(graph["workflows"])
    assert "workflows" not in set().union(*(set(edges) for name, edges in graph.items() if name != "workflows"))


def _write(root, files):
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_the_walk_finds_a_cycle_hidden_in_a_function(tmp_path):
    pkg = tmp_path / "pkg"
    _write(pkg, {
        "__init__.py": "",
        "_io.py": "",
        "a/__init__.py": "from pkg.a.mod import run\n",
        "a/mod.py": "from pkg import _io\n\ndef run():\n    from pkg.b import helper\n    return helper\n",
        "b/__init__.py": "from .tool import helper\n",
        "b/tool.py": "from ..a import mod\nhelper = 1\n",
    })
    graph = import_graph(pkg)
    assert graph["a"] == {"_io": [("pkg/a/mod.py", 1)], "b": [("pkg/a/mod.py", 4)]}
    assert graph["b"] == {"a": [("pkg/b/tool.py", 1)]}
    cycle = find_cycle(graph)
    assert cycle == ["a", "b", "a"]
    assert "a imports b at pkg/a/mod.py:4" in describe(graph, cycle)


def test_the_walk_resolves_the_root_and_import_module(tmp_path):
    pkg = tmp_path / "pkg"
    _write(pkg, {
        "__init__.py": "from pkg import a\n",
        "a/__init__.py": "import importlib\n\ndef load():\n    return importlib.import_module('pkg.b')\n",
        "b/__init__.py": "import pkg\n",
    })
    graph = import_graph(pkg)
    assert set(graph["pkg"]) == {"a"} and set(graph["a"]) == {"b"} and set(graph["b"]) == {"pkg"}
    assert find_cycle(graph) == ["a", "b", "pkg", "a"]


def test_the_walk_finds_a_cycle_between_modules_of_one_subpackage(tmp_path):
    # The shape kseg.inference had: predictor imports tflite_predictor inside a function,
    # tflite_predictor imports predictor at the top.
    pkg = tmp_path / "pkg"
    _write(pkg, {
        "__init__.py": "",
        "sub/__init__.py": "from pkg.sub.predictor import load\n",
        "sub/predictor.py": "from pkg import _io\n\ndef load():\n    from pkg.sub.tflite import run\n",
        "sub/tflite.py": "from .predictor import load\nrun = 1\n",
        "_io.py": "",
    })
    graph = import_graph(pkg / "sub", "pkg.sub")
    assert graph["predictor"] == {"tflite": [("pkg/sub/predictor.py", 4)]}
    cycle = find_cycle(graph)
    assert cycle == ["predictor", "tflite", "predictor"]
    assert "predictor imports tflite at pkg/sub/predictor.py:4" in describe(graph, cycle)


@pytest.mark.parametrize("edges, expected", [({"x": {"y": []}, "y": {}}, None),
                                             ({"x": {"x2": []}, "x2": {"x": []}}, ["x", "x2", "x"])])
def test_find_cycle(edges, expected):
    assert find_cycle(edges) == expected
