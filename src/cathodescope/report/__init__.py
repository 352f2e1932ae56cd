"""Reporting: run folders with manifest, tables and figures."""

from cathodescope.report._runfolder import RunFolder
from cathodescope.report._scene import write_scene_report

__all__ = ["RunFolder", "write_scene_report"]
