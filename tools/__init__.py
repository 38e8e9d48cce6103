"""CI and maintenance tools run from the checkout (``python tools/ci_gate.py``,
``python tools/detector_check.py``); not part of the installed package."""
