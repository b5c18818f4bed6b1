"""Real OSC components for the tests: built or installed once, from ``../shared/vendor``.

Nothing here is copied into the project. :func:`rmr_prefix` builds OSC RMR 4.9.4 (cmake, gcc)
into a cache folder outside the source tree and returns where ``lib/librmr_si.so`` and
``bin/health_ck`` are; :func:`a1_simulator` unpacks OSC's near-RT RIC A1 simulator and gives it a
virtual environment of its own (Flask 2.2, connexion 2.14), not the project's. Each returns None,
with the reason in :data:`MISSING`, when the sources or tools are absent, so tests skip cleanly.

The cache folder is ``$HAF_OSC_CACHE`` or ``~/.cache/haf-osc``; a build that is already there is
reused (a lock file keeps two test processes from building at once).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import sys
import tarfile
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT.parent / "shared" / "vendor"
RMR_TARBALL = "ric-plt-lib-rmr-4.9.4.tar.gz"
RMR_VERSION = "4.9.4"
A1SIM_TARBALL = "sim-a1-interface-2025-09.tar.gz"
A1SIM_PACKAGES = ("Flask==2.2.5", "connexion[swagger-ui,flask]==2.14.2")
MISSING: dict[str, str] = {}


def cache_dir() -> Path:
    return Path(os.environ.get("HAF_OSC_CACHE", Path.home() / ".cache" / "haf-osc"))


@contextmanager
def _locked(name: str):
    cache_dir().mkdir(parents=True, exist_ok=True)
    with (cache_dir() / f".{name}.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _unpack(tarball: Path, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(into, filter="data")
    (top,) = [p for p in into.iterdir() if p.is_dir()]
    return top


def rmr_prefix() -> Path | None:
    """Install prefix of a built RMR 4.9.4 (``lib/librmr_si.so``, ``bin/health_ck``)."""
    tarball = VENDOR / RMR_TARBALL
    if not tarball.is_file():
        MISSING["rmr"] = f"{tarball} is absent (../shared is not beside this checkout)"
        return None
    for tool in ("cmake", "make", "cc"):
        if shutil.which(tool) is None:
            MISSING["rmr"] = f"{tool} is not installed: cannot build RMR"
            return None
    prefix = cache_dir() / f"rmr-{RMR_VERSION}"
    ready = prefix / "lib" / "librmr_si.so"
    with _locked("rmr"):
        if ready.exists() and (prefix / "bin" / "health_ck").exists():
            return prefix
        work = cache_dir() / f"rmr-{RMR_VERSION}-src"
        shutil.rmtree(work, ignore_errors=True)
        src = _unpack(tarball, work)
        build = src / ".build"
        build.mkdir()
        # Twice, as RMR's own packaging does: the runtime (.so), then the dev package (the
        # headers and the health_ck / rmr_probe tools).
        for dev in ("0", "1"):
            cfg = [
                "cmake",
                "..",
                f"-DCMAKE_INSTALL_PREFIX={prefix}",
                "-DIGNORE_LIBDIR=1",
                f"-DDEV_PKG={dev}",
                "-DBUILD_DOC=0",
            ]
            for cmd in (cfg, ["make", "-j2"], ["make", "install"]):
                r = subprocess.run(cmd, cwd=build, capture_output=True, text=True, timeout=600)
                if r.returncode != 0:
                    MISSING["rmr"] = f"RMR build failed at {' '.join(cmd)}: {r.stderr[-500:]}"
                    return None
        shutil.copy2(build / "src" / "support" / "health_ck", prefix / "bin" / "health_ck")
        shutil.rmtree(work, ignore_errors=True)
    return prefix if ready.exists() else None


def a1_simulator() -> tuple[Path, Path] | None:
    """(simulator root ``near-rt-ric-simulator``, its venv's python), installed once."""
    tarball = VENDOR / A1SIM_TARBALL
    if not tarball.is_file():
        MISSING["a1sim"] = f"{tarball} is absent (../shared is not beside this checkout)"
        return None
    home = cache_dir() / "sim-a1-interface-2025-09"
    python = home / "venv" / "bin" / "python"
    root = home / "src" / "sim-a1-interface" / "near-rt-ric-simulator"
    with _locked("a1sim"):
        if python.exists() and root.is_dir() and (home / ".installed").exists():
            return root, python
        shutil.rmtree(home, ignore_errors=True)
        _unpack(tarball, home / "src")
        r = subprocess.run([sys.executable, "-m", "venv", str(home / "venv")], capture_output=True)
        if r.returncode != 0:
            MISSING["a1sim"] = "cannot create the simulator's virtual environment"
            return None
        r = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *A1SIM_PACKAGES],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if r.returncode != 0:
            MISSING["a1sim"] = f"cannot install {', '.join(A1SIM_PACKAGES)}: {r.stderr[-300:]}"
            return None
        (home / ".installed").touch()
    return root, python


A1AP_V2_MEMBER = "near-rt-ric-simulator/api/STD_2.0.0/ORAN_A1-p_V2.0.0_api.yaml"


def a1ap_v2_document() -> Path | None:
    """The O-RAN A1AP v2 OpenAPI document (as the A1 simulator ships it), unpacked once."""
    tarball = VENDOR / A1SIM_TARBALL
    if not tarball.is_file():
        MISSING["a1ap"] = f"{tarball} is absent (../shared is not beside this checkout)"
        return None
    out = cache_dir() / "ORAN_A1-p_V2.0.0_api.yaml"
    with _locked("a1ap"):
        if not out.exists():
            with tarfile.open(tarball) as tar:
                member = next(m for m in tar.getmembers() if m.name.endswith(A1AP_V2_MEMBER))
                data = tar.extractfile(member)
                assert data is not None
                out.write_bytes(data.read())
    return out


def free_port() -> int:
    """A TCP port free on loopback now (RMR needs numbers it can write in a route table)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
