"""profile subpackage."""
