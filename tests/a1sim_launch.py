"""Start OSC's A1 simulator (one flavour) on a given loopback port, in its own venv's python.

``python tests/a1sim_launch.py SIM_ROOT FLAVOUR PORT`` — what ``src/start.sh`` does in the
simulator's container, minus nginx (which maps 8085 to the simulator's fixed port 2222): the
flavour's ``main.py`` is imported and its connexion app run on PORT.
"""

import os
import sys
from pathlib import Path

root, flavour, port = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
os.environ["APIPATH"] = str(root / "api" / flavour)
os.environ.setdefault("A1_VERSION", flavour)
os.environ.setdefault("REMOTE_HOSTS_LOGGING", "0")
sys.path[:0] = [str(root / "src" / flavour), str(root / "src" / "common")]
os.chdir(root / "src" / flavour)
sys.argv = ["main.py"]
import main  # noqa: E402  (the simulator's own module: routes and the connexion app)

main.app.run(port=port, host="127.0.0.1")
