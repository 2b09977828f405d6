"""The wheel works outside the checkout: build it, install it into a fresh virtual environment, run the flows.

The fresh environment reuses the project venv's third-party packages through a ``.pth`` line (so torch is not
reinstalled) but holds its own copy of Ledgermark: a ``.pth`` entry is a plain path, so the project venv's
editable-install finder is never activated there. Every command runs from a temp folder outside the checkout
with ``PYTHONPATH`` unset, and the test asserts that the modules it imports live in the fresh environment.

The embedded chain lives in one process (eth-tester builds it from genesis each time), so the embedded round
trip runs through the installed package's Python API in one process; the CLI round trip uses the default chain
(``--chain local``) with the node binary found on ``PATH``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NODE_BIN = ROOT / "ganache" / "node_modules" / ".bin"
PACKAGE_DATA = (
    "registry/chain/artifacts/ModelRegistry.json",
    "registry/chain/artifacts/OwnershipDisputes.json",
)
LOCALCHAIN = "registry/chain/localchain.json"
NODES = ("anvil", "ganache")

pytestmark = pytest.mark.slow  # build + venv + install + three backends runs ~30-60 s on 2 cores


@dataclass(frozen=True)
class Installed:
    """A wheel installed into its own venv, and an environment that runs it away from the checkout."""

    wheel: Path
    venv: Path
    site_packages: Path
    workdir: Path
    env: dict[str, str]

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def ledgermark(self) -> Path:
        return self.venv / "bin" / "ledgermark"

    def run(
        self,
        *argv: str | Path,
        timeout: float = 180,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command (in the work folder with the fresh venv's environment unless told otherwise); never
        raises on exit codes."""
        return subprocess.run(
            [str(a) for a in argv],
            cwd=cwd or self.workdir,
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


# --------------------------------------------------------------------------- build and install


def _source_files() -> list[Path]:
    """What a source distribution would hold: tracked files plus untracked ones git does not ignore."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    names = [name for name in listed.decode().split("\0") if name]
    # a tracked file deleted from the work tree drops out here
    return [Path(n) for n in names if (ROOT / n).is_file() or (ROOT / n).is_symlink()]


def _copy_sources(dest: Path) -> Path:
    """Copy the sources (symlinks kept as links) so the build writes nothing into the shared checkout."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("the wheel test copies the sources with `git ls-files`: no git checkout here")
    for rel in _source_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target, follow_symlinks=False)
    return dest


def _build_wheel(src: Path, out: Path) -> Path:
    """``pip wheel`` with the venv's own setuptools: works offline (no build isolation, no downloads)."""
    setuptools_major = int(metadata.version("setuptools").split(".")[0])
    assert setuptools_major >= 77, "the wheel build needs setuptools>=77 in .venv: run `make setup`"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", out, src],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = out.glob("ledgermark-*.whl")
    return wheel


def _fresh_venv(venv: Path) -> Path:
    """A venv without pip whose site-packages sees the project venv's packages through a ``.pth`` line."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=120)
    site = Path(
        subprocess.run(
            [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
    )
    (site / "ledgermark-test-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return site


def _clean_env(venv: Path, home: Path) -> dict[str, str]:
    """The caller's environment minus PYTHONPATH and Ledgermark settings, with the fresh venv first on PATH."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("LEDGERMARK_")}
    env.update(
        VIRTUAL_ENV=str(venv),
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(home),
        LEDGERMARK_HOME=str(home / "ledgermark"),
    )
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("wheel")
    assert not base.resolve().is_relative_to(ROOT), "the test must run outside the checkout"
    wheel = _build_wheel(_copy_sources(base / "src"), base / "dist")
    venv = base / "venv"
    site = _fresh_venv(venv)
    (base / "work").mkdir()
    home = base / "home"
    home.mkdir()
    installed = Installed(wheel, venv, site, base / "work", _clean_env(venv, home))
    result = installed.run(
        installed.python, "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed", wheel, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return installed


# --------------------------------------------------------------------------- the wheel itself


def test_wheel_ships_the_package_data_and_no_npm_folders(installed: Installed) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()

    for data in PACKAGE_DATA:
        assert data in names
    assert not [n for n in names if "node_modules" in n or n.endswith((".cjs", "package.json", ".sol"))]
    assert {n.split("/")[0] for n in names} == {"registry", "ipfs", "verifier", "ledgermark-0.1.0.dist-info"}


def test_local_chain_config_lands_with_its_source_bytes(installed: Installed) -> None:
    """``registry/chain/localchain.json`` links to ``ganache/localchain.json``: the wheel holds the target's bytes."""
    link = ROOT / LOCALCHAIN
    shipped = zipfile.ZipFile(installed.wheel).read(LOCALCHAIN)

    assert shipped == link.read_bytes()
    assert json.loads(shipped)  # a real JSON document, not the text of a link
    assert (installed.site_packages / LOCALCHAIN).read_bytes() == shipped


def test_imports_resolve_to_the_fresh_venv_not_the_checkout(installed: Installed) -> None:
    script = (
        "import json, registry, ipfs, verifier, registry.chain.abi as abi, registry.cli\n"
        "from importlib import resources\n"
        "files = [m.__file__ for m in (registry, ipfs, verifier, abi, registry.cli)]\n"
        "files.append(str(resources.files('registry.chain') / 'artifacts' / 'ModelRegistry.json'))\n"
        "print(json.dumps({'files': files, 'abi': len(abi.load_artifact('ModelRegistry')['abi'])}))\n"
    )
    result = installed.run(installed.python, "-c", script)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)

    site = installed.site_packages.resolve()
    for file in found["files"]:
        assert Path(file).resolve().is_relative_to(site), file
        assert not Path(file).resolve().is_relative_to(ROOT), file
    assert found["abi"] > 10


# --------------------------------------------------------------------------- the flows, installed

EMBEDDED_ROUND_TRIP = """
import json, sys
from pathlib import Path
from registry import fetch, publish
from registry.backends import open_backends
from registry.config import Settings

work = Path.cwd()
(work / "model.pt").write_bytes(bytes(range(256)) * 1200)   # 300 KiB: two IPFS chunks
(work / "triggers.npz").write_bytes(b"triggers" * 100)
artifacts = [publish.Artifact(work / "model.pt", role="model"), publish.Artifact(work / "triggers.npz", role="trigger")]
with open_backends(Settings.load(data_dir=work / "state", chain="embedded", ipfs="embedded")) as backends:
    published = publish.publish(backends, artifacts, name="wheel")
    fetched = fetch.fetch(backends, str(published.record_id), work / "buyer")
    _, verified = fetch.verify_files(backends, str(published.record_id), [a.path for a in artifacts])
print(json.dumps({"record": published.record_id, "fetched": fetched.comparison.ok, "verified": verified.ok,
                  "same": (work / "buyer" / "model.pt").read_bytes() == (work / "model.pt").read_bytes()}))
"""


def test_publish_fetch_verify_on_the_embedded_backends(installed: Installed) -> None:
    result = installed.run(installed.python, "-c", EMBEDDED_ROUND_TRIP)
    assert result.returncode == 0, result.stderr

    assert json.loads(result.stdout.splitlines()[-1]) == {
        "record": 1,
        "fetched": True,
        "verified": True,
        "same": True,
    }


def test_cli_publishes_on_the_embedded_chain(installed: Installed) -> None:
    """The command from the issue: it failed on a missing ``…/site-packages/contracts/build/…`` artifact."""
    (installed.workdir / "f").write_bytes(b"weights\n")
    result = installed.run(installed.ledgermark, "--chain", "embedded", "publish", "f:model", "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["record_id"] == 1


@pytest.fixture
def node_on_path(installed: Installed) -> Iterator[dict[str, str]]:
    """The installed CLI's environment with the npm node binaries on PATH; any node it leaves is stopped."""
    if not all((NODE_BIN / name).exists() for name in NODES):
        pytest.skip("the local chains are not installed in ganache/node_modules: run `make setup`")
    env = dict(installed.env, PATH=f"{NODE_BIN}{os.pathsep}{installed.env['PATH']}")
    data_dir = Path(env["LEDGERMARK_HOME"]) / "default-chain"
    env["LEDGERMARK_HOME"] = str(data_dir)
    try:
        yield env
    finally:
        installed.run(installed.ledgermark, "chain", "stop", env=env, timeout=60)
        leftover = _stop_recorded_nodes(data_dir)
        assert not leftover, f"nodes left running after `ledgermark chain stop`: {leftover}"


def _stop_recorded_nodes(data_dir: Path) -> list[int]:
    """Kill (by pid, process group) any node a pidfile under ``data_dir`` still names; return those pids."""
    stopped = []
    for pidfile in data_dir.rglob("*.json") if data_dir.exists() else []:
        with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
            pid = int(json.loads(pidfile.read_text()).get("pid"))
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if str(data_dir).encode() in cmdline:  # our node: its argv names our data dir
                os.killpg(pid, signal.SIGKILL)
                stopped.append(pid)
    return stopped


@pytest.mark.daemon
def test_publish_fetch_verify_on_the_default_chain_with_the_node_on_path(
    installed: Installed, node_on_path: dict[str, str]
) -> None:
    """``--chain local`` starts Ganache found on PATH: the wheel ships no npm folder."""
    work = installed.workdir / "default-chain"
    work.mkdir()
    (work / "model.pt").write_bytes(os.urandom(300_000))
    (work / "triggers.npz").write_bytes(os.urandom(5_000))

    def cli(*argv: str | Path) -> subprocess.CompletedProcess[str]:
        return installed.run(installed.ledgermark, "--chain", "local", *argv, cwd=work, env=node_on_path)

    published = cli("publish", "model.pt:model", "triggers.npz:trigger", "--json")
    assert published.returncode == 0, published.stderr
    record = str(json.loads(published.stdout)["record_id"])
    fetched = cli("fetch", record, "--out", work / "buyer", "--json")
    assert fetched.returncode == 0, fetched.stderr
    verified = cli("verify", record, work / "model.pt", work / "triggers.npz", "--json")
    assert verified.returncode == 0, verified.stderr

    assert (work / "buyer" / "model.pt").read_bytes() == (work / "model.pt").read_bytes()
    (work / "model.pt").write_bytes(b"tampered")
    assert cli("verify", record, work / "model.pt", work / "triggers.npz").returncode == 1


def test_default_chain_without_a_node_binary_says_how_to_install_one(installed: Installed) -> None:
    """Without the npm folder (not in the wheel) and nothing on PATH, the error is a usage error, not a crash."""
    if any(shutil.which(name, path=installed.env["PATH"]) for name in NODES):
        pytest.skip("a local chain binary is already on PATH here")
    env = dict(installed.env, LEDGERMARK_HOME=str(installed.workdir / "no-node"))
    (installed.workdir / "w").write_bytes(b"weights\n")
    result = installed.run(
        installed.ledgermark, "--chain", "local", "publish", "w:model", env=env, timeout=120
    )

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "install" in result.stderr.lower()
