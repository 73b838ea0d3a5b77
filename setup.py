"""Puts webslm's run-time data into the wheel: models.yaml, tests/data/eval_text.txt, web/
and the npm engines the pages load, copied to webslm/_data/ (webslm/resources.py says what,
and finds them at run time). The repository keeps them where they are; an editable install
reads them there, so it copies nothing. Everything else is in pyproject.toml."""

import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from webslm import resources  # noqa: E402  (standard library only)


class BuildPyWithData(build_py):
    def run(self):
        if not self.editable_mode:  # build/lib keeps files deleted since: start it afresh
            shutil.rmtree(Path(self.build_lib) / "webslm", ignore_errors=True)
        super().run()
        if not self.editable_mode:
            copy_data(HERE, Path(self.build_lib) / "webslm" / "_data")


def fail(problem: str, fix: str):
    sys.exit(f"webslm wheel build: {problem}\n  fix: {fix}")


def check_npm_engines(repo: Path):
    """web/node_modules must hold the engines, at the versions web/package.json pins."""
    web = repo / "web"
    if not (web / "node_modules").is_dir():
        fail(f"{web / 'node_modules'} is missing: the wheel ships the browser engines from it",
             f"run `{resources.NPM_INSTALL}`, then build the wheel again")
    for package in resources.ENGINE_PACKAGES:
        installed, pinned = resources.npm_installed_version(package, web), resources.npm_pin(package, web)
        if installed != pinned:
            fail(f"web/node_modules has {package} {installed}, web/package.json pins {pinned}",
                 f"run `{resources.NPM_INSTALL}`")
    for relative in (*resources.NPM_TREES, *resources.NPM_FILES):
        if not (web / relative).exists():
            fail(f"web/{relative} is missing", f"run `{resources.NPM_INSTALL}`")


def copy_data(repo: Path, target: Path):
    """Lay out under target what resources.data_path finds in the checkout."""
    check_npm_engines(repo)
    shutil.rmtree(target, ignore_errors=True)  # no leftovers from an earlier build/
    for relative in resources.SHIPPED_FILES:
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / relative, target / relative)
    skip = shutil.ignore_patterns("node_modules", "__pycache__", ".*")
    for relative in resources.SHIPPED_TREES:
        shutil.copytree(repo / relative, target / relative, ignore=skip)
    for relative in resources.NPM_TREES:
        shutil.copytree(repo / "web" / relative, target / "web" / relative)
    for relative in resources.NPM_FILES:
        (target / "web" / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / "web" / relative, target / "web" / relative)


if __name__ == "__main__":  # setuptools runs it so; tests import the helpers above
    setup(cmdclass={"build_py": BuildPyWithData})
