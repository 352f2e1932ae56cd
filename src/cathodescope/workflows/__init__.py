"""Multi-step runs that write a run folder: wiring only, each step lives in its package.

The layer between :mod:`cathodescope.report` (figures, run folders) and :mod:`cathodescope.cli`
(argument parsing). One public module per job; the command line calls exactly one function of
one of them, and so can a script or a notebook.
"""
