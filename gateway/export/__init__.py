"""Answered tasks as data: fine-tuning lines, preference pairs, evaluation rows,
trajectories, the calibration report, and the checks they pass."""
