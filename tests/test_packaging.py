"""pyproject.toml lists fgc's packages by hand (passes/ installs as fgc.passes): every package of the
source tree must be listed, or a fresh install lacks it while an editable one still works."""
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_of_the_tree_is_installed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "fgc").rglob("__init__.py")}
    found |= {"fgc.passes" + "".join(f".{part}" for part in p.parent.relative_to(ROOT / "passes").parts)
              for p in (ROOT / "passes").rglob("__init__.py")}
    assert found - listed == set(), f"add these to [tool.setuptools] packages in pyproject.toml: {found - listed}"
