"""Reporting: run folders with manifest, tables and figures."""

from cathodescope.report._runfolder import RunFolder

__all__ = ["RunFolder"]
