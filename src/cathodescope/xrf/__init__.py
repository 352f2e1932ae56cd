"""xrf subpackage."""
