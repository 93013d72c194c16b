"""Reconciliation rules, runs and breaks arrive with the reconciliation issue.

This app is installed now so that the layout of the design brief holds from the first commit;
it opens and closes exceptions only through ``controltower.exceptions.services``.
"""

from __future__ import annotations
