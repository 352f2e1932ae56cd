"""xrd subpackage."""
