"""What History offers besides its pages.

Downloads in the import format (exports.py), and the deletion of stored input files past their
retention period (retention.py).
"""
