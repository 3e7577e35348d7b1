"""Tests of the written notes (:mod:`notes`). Helpers shared by its modules live here."""
