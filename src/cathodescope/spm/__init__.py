"""spm subpackage."""
