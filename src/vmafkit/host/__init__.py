"""Host: what this machine is and whether it can run each step."""
