"""Orchestration: plan, run/resume, verify and finalize, with stats and progress."""
