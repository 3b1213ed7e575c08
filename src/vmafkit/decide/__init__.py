"""Decide: recompute the evidence, apply the gate, write the verdict."""
