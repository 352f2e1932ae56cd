"""echem subpackage."""
