"""Names of the files a LOSO folder holds that more than one stage reads or removes.

The verdict step writes one of the verdict files; training removes both, because a verdict
describes the seed reports it was computed from and a retrain replaces them.
"""

from __future__ import annotations

PROMOTE_FILE = "PROMOTE.json"
HOLD_FILE = "HOLD.json"
VERDICT_FILES = (PROMOTE_FILE, HOLD_FILE)
