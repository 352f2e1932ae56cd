"""xas subpackage."""
