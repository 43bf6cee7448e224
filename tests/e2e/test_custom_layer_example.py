"""examples/custom_layer.py runs and checks itself against numpy."""
import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "custom_layer.py"


def test_custom_layer_example_runs():
    env = {**os.environ, "FGC_EXAMPLE_EPOCHS": "15", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    proc = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=240, env=env)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    for line in ("predict matches numpy: True", "exported ONNX matches numpy: True", "layers: ['RBF', 'Dense']"):
        assert line in output, output[-4000:]
    accuracy = float(output.split("ring classifier accuracy: ")[1].split()[0])
    assert accuracy > 0.9
