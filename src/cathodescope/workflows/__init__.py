"""Multi-step runs that write a run folder: wiring only, each step lives in its package."""
