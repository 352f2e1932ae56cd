"""tomo subpackage."""
