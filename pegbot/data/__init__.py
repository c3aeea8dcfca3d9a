"""Data bundled with the package: the demo's recording (see README.md here)."""
