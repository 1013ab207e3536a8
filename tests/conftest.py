import sys
from pathlib import Path

# Test modules import tests/helpers.py by name.
sys.path.insert(0, str(Path(__file__).resolve().parent))
