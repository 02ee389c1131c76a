"""The example connector plugin (examples/portcullis-connector-example), installed for real.

pip builds the package and installs it into a directory of this test run (not into the
virtualenv, which other checkouts share); a test that asks for ``example_plugin`` has that
directory on ``sys.path``, so the ``portcullis.connectors`` entry point is found exactly as
for any installed plugin, and worker processes get it on ``PYTHONPATH``. The registry is
read again when the plugin comes and goes.
"""

from __future__ import annotations

import fcntl
import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from governance.connectors import registry

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "portcullis-connector-example"
MODULE = "portcullis_connector_example"


@pytest.fixture(scope="session")
def example_plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin built and installed by pip into a directory of its own."""
    from tests.conftest import need

    # Built once per run: the xdist processes of one run share their parent directory, and the
    # first to get there builds while the other waits.
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    base = root / "example-plugin"
    site = base / "site"
    with (root / "example-plugin.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (base / "installed").exists():
            return site
        shutil.rmtree(base, ignore_errors=True)  # what a failed build left
        source = base / "source"
        shutil.copytree(EXAMPLE, source)  # the build leaves build/ and *.egg-info behind: not in the checkout
        # As a user would: pip fetches the build backend the package names (setuptools) from the
        # index into an isolated build environment, builds a wheel, installs it.
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"]
        finished = subprocess.run(
            [*command, "--target", str(site), str(source)], capture_output=True, text=True, check=False
        )
        need(finished.returncode == 0, f"pip could not install the example plugin:\n{finished.stderr[-2000:]}")
        (base / "installed").touch()
    return site


@dataclass
class InstalledPlugin:
    site: Path

    def worker_env(self) -> dict[str, str]:
        """Environment for a worker process that must see the plugin."""
        paths = [str(self.site), os.environ.get("PYTHONPATH", "")]
        return {"PYTHONPATH": os.pathsep.join(p for p in paths if p)}

    def uninstall(self) -> None:
        """As if `pip uninstall` ran and the processes restarted: the entry point is gone."""
        if str(self.site) in sys.path:
            sys.path.remove(str(self.site))
        sys.modules.pop(MODULE, None)
        importlib.invalidate_caches()
        registry.reload()


@pytest.fixture
def example_plugin(example_plugin_site: Path) -> Iterator[InstalledPlugin]:
    """The example plugin installed for this test (and only for it)."""
    sys.path.insert(0, str(example_plugin_site))
    importlib.invalidate_caches()
    registry.reload()
    plugin = InstalledPlugin(example_plugin_site)
    try:
        yield plugin
    finally:
        plugin.uninstall()
