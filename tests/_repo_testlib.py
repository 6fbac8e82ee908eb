"""The repository-layout tests' access to scripts/architecture.py (a script, not a package)."""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_architecture():
    """Import scripts/architecture.py once, as the module ``architecture``."""
    if "architecture" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "architecture", ROOT / "scripts" / "architecture.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules["architecture"] = module
        spec.loader.exec_module(module)
    return sys.modules["architecture"]


architecture = load_architecture()
